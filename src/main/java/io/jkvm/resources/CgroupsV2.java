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
                throw new IllegalStateException("cgroup " + s + ": the cgroup-v2 hierarchy at " + mount + " has no "
                        + s.controller() + " controller (on this host it is bound to cgroup v1: use --cgroup-version 1)");
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
                    throw new IllegalStateException("cgroup " + s + ": " + s.file() + " is not a file of the "
                            + s.controller() + " controller in cgroup v2");
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
        return Cgroups.hierarchies().stream().filter(m -> m.type().equals("cgroup2")).map(Cgroups.HierarchyMount::point)
                .findFirst().orElseThrow(() -> new IllegalStateException(
                        "cgroup: no cgroup-v2 hierarchy is mounted on this host (use --cgroup-version 1)"));
    }

    private static String read(Path f) {
        try {
            return Files.readString(f, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new IllegalStateException("cgroup: cannot read " + f + ": " + e.getMessage(), e);
        }
    }
}
