package io.jkvm.cli;

import io.jkvm.resources.CgroupSetting;
import io.jkvm.resources.Cgroups;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The resource-control options of {@code jkvm run}, as the Firecracker jailer takes them
 * ({@code --cgroup FILE=VALUE}, {@code --parent-cgroup}) and libvirt's cputune/memtune set them:
 * the VMM moves itself into a cgroup of its own per controller named, before guest RAM exists, so
 * every page of guest RAM and every vCPU thread is charged and limited there.
 */
final class CgroupOptions {
    /** More settings than any controller has files: a bound on what one command line may ask. */
    static final int MAX_SETTINGS = 32;

    @Option(names = "--cgroup", paramLabel = "FILE=VALUE",
            description = "Write VALUE to cgroup file FILE of this VM's own cgroup, in the v1 hierarchy that has the"
                    + " controller, else in cgroup v2 (beneath /jkvm), e.g. memory.limit_in_bytes=1G or memory.max=1G,"
                    + " cpu.cfs_quota_us=50000 or cpu.max=\"50000 100000\", pids.max=512; repeatable.")
    List<String> cgroups = new ArrayList<>();

    @Option(names = "--parent-cgroup", paramLabel = "PATH",
            description = "Create the VM's cgroups beneath PATH of each hierarchy (default: beneath the VMM's current"
                    + " cgroups in v1, beneath /jkvm in v2).")
    String parent;

    /** The settings, checked for syntax. @throws UserError naming the flag */
    List<CgroupSetting> settings() {
        if (cgroups.size() > MAX_SETTINGS) {
            throw new UserError("--cgroup: at most " + MAX_SETTINGS + " settings");
        }
        List<CgroupSetting> out = new ArrayList<>();
        Set<String> files = new HashSet<>();
        try {
            Cgroups.requireParent(parent);
            for (String text : cgroups) {
                CgroupSetting s = CgroupSetting.parse(text);
                if (!files.add(s.file())) {
                    throw new IllegalArgumentException("cgroup " + s.file() + ": given twice");
                }
                out.add(s);
            }
        } catch (IllegalArgumentException e) {
            throw new UserError("--" + e.getMessage());
        }
        if (parent != null && out.isEmpty()) {
            throw new UserError("--parent-cgroup goes with --cgroup (it says where the VM's cgroups go)");
        }
        return out;
    }

    /**
     * Moves this process into the VM's cgroups, or does nothing without settings.
     *
     * @param id the cgroup is named {@code jkvm-<id>}
     * @return what to release at exit, or null when there were no settings
     * @throws UserError naming the setting the host refused
     */
    Cgroups.Applied applyToSelf(String id, List<CgroupSetting> settings) {
        if (settings.isEmpty()) {
            return null;
        }
        try {
            return Cgroups.apply(ProcessHandle.current().pid(), id, settings, parent);
        } catch (IllegalStateException | IllegalArgumentException e) {
            throw new UserError("--" + e.getMessage());
        }
    }
}
