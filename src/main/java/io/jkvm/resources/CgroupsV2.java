package io.jkvm.resources;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A VM's cgroup in the unified (v2) hierarchy, as Firecracker's jailer makes it with
 * {@code --cgroup-version 2}: {@code <mount>/<parent>/<id>}, each controller the settings name
 * enabled in {@code cgroup.subtree_control} from the hierarchy's root down to the parent (a v2
 * controller's files exist in a cgroup only when its parent enables it; Documentation/admin-guide/
 * cgroup-v2.rst, "Enabling and Disabling"), the settings written, and the process moved in.
 * The parent holds no process of its own, so enabling controllers there never meets the
 * no-internal-process rule.
 */
public final class CgroupsV2 {
    private CgroupsV2() {}

    /**
     * Where a VM's v2 cgroup goes without a parent given: {@code <mount>/jkvm/jkvm-<id>}. Not
     * beneath the VMM's own cgroup, as on v1: a v2 cgroup that holds processes cannot enable
     * controllers for its children (cgroup-v2.rst, "No Internal Process Constraint"), and the
     * VMM's own (a login session's scope, a service's cgroup) holds at least the VMM.
     */
    public static final String DEFAULT_PARENT = "jkvm";

    /**
     * The v2 files for what cgroup-v1 file names say (cgroup-v2.rst, "Deprecated v1 Core
     * Features" and each controller's interface files), for the one line that refuses a v1 name
     * on a v2 host.
     */
    static final java.util.Map<String, String> V2_NAMES = java.util.Map.of(
            "memory.limit_in_bytes", "memory.max",
            "memory.soft_limit_in_bytes", "memory.low or memory.high",
            "memory.memsw.limit_in_bytes", "memory.swap.max (swap alone, not memory + swap)",
            "cpu.cfs_quota_us", "cpu.max (\"QUOTA PERIOD\")",
            "cpu.cfs_period_us", "cpu.max (\"QUOTA PERIOD\")",
            "cpu.shares", "cpu.weight (1-10000, default 100)",
            "blkio.weight", "io.weight");

    /**
     * Makes the cgroup, writes {@code settings} and moves process {@code pid} in.
     *
     * @return the cgroup's directory
     * @throws IllegalStateException naming the setting, controller or file and why
     */
    public static Path apply(long pid, String leaf, List<CgroupSetting> settings, String parent) {
        if (!leaf.matches("[A-Za-z0-9_-]{1,70}")) {
            throw new IllegalArgumentException("cgroup: '" + leaf + "' cannot name a cgroup");
        }
        Cgroups.requireParent(parent);
        Path mount = mount();
        List<String> available = List.of(read(mount.resolve("cgroup.controllers")).strip().split("\\s+"));
        for (CgroupSetting s : settings) {
            if (!available.contains(s.controller())) {
                throw new IllegalStateException("cgroup " + s + ": this host has no " + s.controller()
                        + " controller: no cgroup-v1 hierarchy has it, nor the cgroup-v2 one at " + mount
                        + " (a controller bound to v1 is not offered in v2)");
            }
        }
        Path parentDir = parent == null ? mount : mount.resolve(parent.replaceFirst("^/+", ""));
        Path dir = parentDir.resolve(leaf);
        try {
            Files.createDirectories(parentDir);
            for (Path p = mount; ; p = p.resolve(parentDir.getName(p.getNameCount()).toString())) {
                for (String c : Cgroups.controllers(settings)) {
                    Cgroups.write(p.resolve("cgroup.subtree_control"), "+" + c, "cgroup: enabling the " + c + " controller in " + p);
                }
                if (p.equals(parentDir)) {
                    break;
                }
            }
            if (Files.isDirectory(dir) && !read(dir.resolve("cgroup.procs")).isBlank()) {
                throw new IllegalStateException("cgroup: " + dir + " already holds another process (a VM with the id '"
                        + leaf + "' is running; give each VM its own id)");
            }
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new IllegalStateException("cgroup: cannot create " + dir + ": " + e.getMessage(), e);
        }
        try {
            for (CgroupSetting s : settings) {
                Path f = dir.resolve(s.file());
                if (!Files.isRegularFile(f)) {
                    String v2 = V2_NAMES.get(s.file());
                    throw new IllegalStateException("cgroup " + s + ": " + s.file() + " is not a file of the "
                            + s.controller() + " controller in cgroup v2" + (v2 == null ? "" : ", which has " + v2));
                }
                Cgroups.write(f, s.value(), "cgroup " + s);
            }
            Cgroups.write(dir.resolve("cgroup.procs"), Long.toString(pid), "cgroup: moving the VMM into " + dir);
        } catch (IllegalStateException e) {
            try {
                Files.deleteIfExists(dir); // nothing moved in: a refused setting leaves no cgroup behind
            } catch (IOException ignored) {
                // Best effort; the message below is what matters.
            }
            throw e;
        }
        return dir;
    }

    /** The cgroup2 mount point (mounted at its root). */
    static Path mount() {
        return mountIfAny().orElseThrow(() -> new IllegalStateException(
                "cgroup: no cgroup-v2 hierarchy is mounted on this host, and no cgroup-v1 one has the controllers named"));
    }

    /** The cgroup2 mount point, if one is mounted at its root. */
    static java.util.Optional<Path> mountIfAny() {
        return Cgroups.hierarchies().stream().filter(m -> m.type().equals("cgroup2")).map(Cgroups.HierarchyMount::point)
                .findFirst();
    }

    /** Process {@code pid}'s v2 cgroup directory (its {@code 0::PATH} line of /proc/PID/cgroup). */
    static Path current(long pid) {
        Path mount = mount();
        return Cgroups.memberships(pid).stream().filter(m -> m.controllers().isEmpty()).findFirst()
                .map(m -> mount.resolve(m.relative())).orElse(mount);
    }

    private static String read(Path f) {
        try {
            return Files.readString(f, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new IllegalStateException("cgroup: cannot read " + f + ": " + e.getMessage(), e);
        }
    }
}
