package io.jkvm.resources;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A VM's own cgroup in each cgroup-v1 controller its settings name (the jailer's {@code --cgroup}
 * and libvirt's cputune/memtune): created beneath the VMM's current cgroup of that controller (or
 * beneath {@code parent} from the hierarchy's root), the settings written, and the VMM process
 * moved in (writing its pid to {@code cgroup.procs} moves every thread). Limits stay nested
 * under whatever already limits the VMM, so a VM never escapes its launcher's limits.
 *
 * <p>cgroup v2 is refused with one line for now: its controllers have to be enabled down the
 * tree and a cgroup holding processes cannot enable them (the no-internal-process rule), which
 * needs a delegated subtree; this host's v2 mount is empty and its controllers are v1.
 */
public final class Cgroups {
    private Cgroups() {}

    /** Where a VM's cgroups are: per controller, the directory; {@link #release} undoes {@link #apply}. */
    public record Applied(long pid, Map<String, Path> dirs, Map<String, Path> previous) {}

    /**
     * Creates {@code jkvm-<id>} for each controller of {@code settings}, writes them in order and
     * moves process {@code pid} in. Each controller goes where this host has it: a cgroup-v1
     * hierarchy of its own (hybrid hosts, this project's), beneath the process's current cgroup
     * there; else the unified v2 hierarchy (most hosts today, where v1 is not mounted), beneath
     * {@code /jkvm} ({@link CgroupsV2#DEFAULT_PARENT}).
     *
     * @param parent the parent cgroup below each hierarchy's root (null: as above)
     * @throws IllegalStateException naming the setting, controller or file and why
     */
    public static Applied apply(long pid, String id, List<CgroupSetting> settings, String parent) {
        if (!id.matches("[A-Za-z0-9_-]{1,64}")) {
            throw new IllegalArgumentException("cgroup: the VM id '" + id + "' cannot name a cgroup");
        }
        String leaf = "jkvm-" + id;
        requireParent(parent);
        Map<String, Path> mounts = v1Mounts();
        List<CgroupSetting> v1 = settings.stream().filter(s -> mounts.containsKey(s.controller())).toList();
        List<CgroupSetting> v2 = settings.stream().filter(s -> !mounts.containsKey(s.controller())).toList();
        Applied a = v1.isEmpty() ? new Applied(pid, Map.of(), Map.of()) : applyV1(pid, leaf, v1, parent, mounts);
        if (v2.isEmpty()) {
            return a;
        }
        try {
            if (CgroupsV2.mountIfAny().isEmpty()) {
                throw new IllegalStateException("cgroup " + v2.getFirst() + ": this host has no "
                        + v2.getFirst().controller() + " controller (no cgroup-v1 hierarchy with it, and no cgroup v2 mounted)");
            }
            Path previous = CgroupsV2.current(pid);
            Path dir = CgroupsV2.apply(pid, leaf, v2, parent == null ? CgroupsV2.DEFAULT_PARENT : parent);
            Map<String, Path> dirs = new LinkedHashMap<>(a.dirs());
            Map<String, Path> back = new LinkedHashMap<>(a.previous());
            for (String c : controllers(v2)) {
                dirs.put(c, dir);
                back.put(c, previous);
            }
            return new Applied(pid, Map.copyOf(dirs), Map.copyOf(back));
        } catch (IllegalStateException | IllegalArgumentException e) {
            release(a); // the v1 part too: a refused setting leaves no cgroup behind
            throw e;
        }
    }

    /**
     * Cgroup v1 only, with the cgroup named {@code leaf} itself: Firecracker's jailer with
     * {@code --cgroup-version 1} makes {@code <hierarchy>/<parent>/<id>}, and tools that drive it
     * look for that path. A controller no v1 hierarchy has is refused, naming it.
     */
    public static Applied applyAt(long pid, String leaf, List<CgroupSetting> settings, String parent) {
        if (!leaf.matches("[A-Za-z0-9_-]{1,70}")) {
            throw new IllegalArgumentException("cgroup: '" + leaf + "' cannot name a cgroup");
        }
        requireParent(parent);
        Map<String, Path> mounts = v1Mounts();
        for (CgroupSetting s : settings) {
            if (!mounts.containsKey(s.controller())) {
                throw new IllegalStateException("cgroup " + s + ": no cgroup-v1 hierarchy with the " + s.controller()
                        + " controller is mounted on this host (for cgroup v2: --cgroup-version 2)");
            }
        }
        return applyV1(pid, leaf, settings, parent, mounts);
    }

    /** A cgroup per controller, each in its v1 hierarchy ({@code mounts} has every controller named). */
    private static Applied applyV1(long pid, String leaf, List<CgroupSetting> settings, String parent, Map<String, Path> mounts) {
        Map<String, String> current = currentPaths(pid);
        Map<String, Path> dirs = new LinkedHashMap<>();
        Map<String, Path> previous = new LinkedHashMap<>();
        try {
            makeDirs(settings, mounts, current, parent, leaf, dirs, previous);
        } catch (IllegalStateException e) {
            release(new Applied(pid, Map.copyOf(dirs), Map.of())); // only the ones made here; the process never moved
            throw e;
        }
        Applied applied = new Applied(pid, Map.copyOf(dirs), Map.copyOf(previous));
        try {
            for (CgroupSetting s : settings) {
                Path f = dirs.get(s.controller()).resolve(s.file());
                if (!Files.isRegularFile(f)) {
                    throw new IllegalStateException("cgroup " + s + ": " + s.file() + " is not a file of the "
                            + s.controller() + " controller on this host");
                }
                write(f, s.value(), "cgroup " + s);
            }
            for (Map.Entry<String, Path> e : dirs.entrySet()) {
                write(e.getValue().resolve("cgroup.procs"), Long.toString(pid), "cgroup " + e.getKey() + ": moving the VMM in");
            }
        } catch (IllegalStateException e) {
            release(applied); // a refused setting leaves no cgroup behind, and the process where it was
            throw e;
        }
        return applied;
    }

    /** Creates the VM's cgroup in each controller's hierarchy, recording each one made in {@code dirs}. */
    private static void makeDirs(List<CgroupSetting> settings, Map<String, Path> mounts, Map<String, String> current,
                                 String parent, String leaf, Map<String, Path> dirs, Map<String, Path> previous) {
        for (CgroupSetting s : settings) {
            String c = s.controller();
            if (dirs.containsKey(c)) {
                continue;
            }
            Path mount = mounts.get(c);
            String here = current.getOrDefault(c, "/");
            Path base = parent != null ? mount.resolve(parent.replaceFirst("^/+", "")) : mount.resolve(here.replaceFirst("^/+", ""));
            Path dir = base.resolve(leaf);
            try {
                // A cgroup of this name that still holds processes is another VM's with the same
                // id: sharing it would pool both VMs' limits, so the id must differ.
                if (Files.isDirectory(dir) && !Files.readString(dir.resolve("cgroup.procs")).isBlank()) {
                    throw new IllegalStateException("cgroup " + s + ": " + dir + " already holds another process"
                            + " (a VM with the id '" + leaf.replaceFirst("^jkvm-", "") + "' is running; give each VM its own id)");
                }
                Files.createDirectories(dir);
                if (c.equals("cpuset")) {
                    inherit(dir, "cpuset.cpus");
                    inherit(dir, "cpuset.mems");
                }
            } catch (IOException e) {
                throw new IllegalStateException("cgroup " + s + ": cannot create " + dir + ": " + e.getMessage(), e);
            }
            dirs.put(c, dir);
            previous.put(c, mount.resolve(here.replaceFirst("^/+", "")));
        }
    }

    /**
     * Checks a parent cgroup path: relative to each hierarchy's root, with no {@code ..}.
     *
     * @throws IllegalArgumentException naming parent-cgroup
     */
    public static void requireParent(String parent) {
        if (parent != null && (parent.contains("..") || !parent.matches("[A-Za-z0-9_./-]{1,200}"))) {
            throw new IllegalArgumentException("parent-cgroup " + parent + ": a path below the hierarchy's root without '..'");
        }
    }

    /** Moves the process back where it was and removes the VM's cgroups (best effort: at exit). */
    public static void release(Applied a) {
        for (Map.Entry<String, Path> e : a.dirs().entrySet()) {
            try {
                Path back = a.previous().get(e.getKey());
                if (back != null && Files.isDirectory(back)) {
                    Files.writeString(back.resolve("cgroup.procs"), Long.toString(a.pid()));
                }
                Files.deleteIfExists(e.getValue());
            } catch (IOException | RuntimeException ignored) {
                // The process may be gone (its cgroup is then empty and removable), or a thread
                // still in it keeps the directory: nothing more to do at exit.
            }
        }
    }

    /**
     * Removes the cgroups {@link #apply} made for {@code id} beneath the current cgroups of
     * process {@code relativeTo} (a daemon, whose VMMs start in its cgroups), once their process
     * is gone: the VMM cannot always do it itself, since a confined VMM may not write the
     * hierarchy. A cgroup that still holds a process stays (rmdir refuses; best effort).
     *
     * @return the directories removed
     */
    public static List<Path> removeLeftover(String id, List<String> controllers, String parent, long relativeTo) {
        List<Path> removed = new ArrayList<>();
        if (!id.matches("[A-Za-z0-9_-]{1,64}") || controllers.isEmpty()) {
            return removed;
        }
        try {
            Map<String, Path> mounts = v1Mounts();
            Map<String, String> current = currentPaths(relativeTo);
            java.util.Set<Path> dirs = new java.util.LinkedHashSet<>();
            for (String c : controllers) {
                Path mount = mounts.get(c);
                if (mount == null) {
                    // Where apply put a controller v1 lacks: the v2 hierarchy, beneath the default parent.
                    CgroupsV2.mountIfAny().ifPresent(m -> dirs.add(m.resolve((parent != null ? parent
                            : CgroupsV2.DEFAULT_PARENT).replaceFirst("^/+", "")).resolve("jkvm-" + id)));
                    continue;
                }
                String base = parent != null ? parent : current.getOrDefault(c, "/");
                dirs.add(mount.resolve(base.replaceFirst("^/+", "")).resolve("jkvm-" + id));
            }
            for (Path dir : dirs) {
                try {
                    awaitEmpty(dir);
                    if (Files.deleteIfExists(dir)) {
                        removed.add(dir);
                    }
                } catch (IOException stillInUse) {
                    // EBUSY: a process is still in it; it stays for whoever stops that process.
                }
            }
        } catch (IllegalStateException unreadable) {
            // No /proc view of the hierarchy: nothing to remove.
        }
        return removed;
    }

    /** How long a VMM's last threads may take to leave its cgroup after its main thread is a zombie. */
    private static final long EXIT_GRACE_NANOS = 5_000_000_000L;

    /**
     * Waits, bounded, until no thread is left in {@code dir}: a killed VMM's main thread turns
     * zombie while its other threads are still exiting, and rmdir refuses a cgroup with threads.
     */
    private static void awaitEmpty(Path dir) throws IOException {
        Path tasks = Files.isRegularFile(dir.resolve("tasks")) ? dir.resolve("tasks") : dir.resolve("cgroup.threads");
        long deadline = System.nanoTime() + EXIT_GRACE_NANOS;
        while (Files.isRegularFile(tasks) && !Files.readString(tasks).isBlank() && System.nanoTime() < deadline) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** A new cpuset cgroup has no CPUs or memory nodes until given some: its parent's, unless set later. */
    private static void inherit(Path dir, String file) throws IOException {
        Path mine = dir.resolve(file);
        if (Files.readString(mine).isBlank()) {
            Files.writeString(mine, Files.readString(dir.getParent().resolve(file)).strip());
        }
    }

    static void write(Path f, String value, String what) {
        try {
            Files.writeString(f, value, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new IllegalStateException(what + ": writing " + f + " failed: " + e.getMessage(), e);
        }
    }

    /**
     * A cgroup file system mounted at its hierarchy's root (a bind of a sub-hierarchy would need
     * its offset): its type ("cgroup" or "cgroup2"), mount point and super options (v1: its controllers).
     */
    record HierarchyMount(String type, Path point, List<String> options) {}

    /** The cgroup hierarchies mounted at their root, from /proc/self/mountinfo (proc(5)). */
    static List<HierarchyMount> hierarchies() {
        List<HierarchyMount> out = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                int dash = line.indexOf(" - ");
                if (dash < 0) {
                    continue;
                }
                String[] pre = line.substring(0, dash).split(" ");
                String[] post = line.substring(dash + 3).split(" ");
                if (post.length < 3 || pre.length < 5 || !pre[3].equals("/")
                        || !(post[0].equals("cgroup") || post[0].equals("cgroup2"))) {
                    continue;
                }
                out.add(new HierarchyMount(post[0], Path.of(pre[4]), List.of(post[2].split(","))));
            }
        } catch (IOException e) {
            throw new IllegalStateException("cgroup: cannot read /proc/self/mountinfo: " + e.getMessage(), e);
        }
        return out;
    }

    /** cgroup-v1 mount points by controller. */
    static Map<String, Path> v1Mounts() {
        Map<String, Path> out = new LinkedHashMap<>();
        for (HierarchyMount m : hierarchies()) {
            if (m.type().equals("cgroup")) {
                for (String opt : m.options()) {
                    out.putIfAbsent(opt, m.point());
                }
            }
        }
        return out;
    }

    /**
     * One line of /proc/PID/cgroup (cgroups(7)): the hierarchy's controllers, none for the
     * unified (v2) hierarchy, and the process's path in it.
     */
    record Membership(List<String> controllers, String path) {
        /** The path without its leading slash, to resolve against the hierarchy's mount point. */
        String relative() {
            return path.replaceFirst("^/+", "");
        }
    }

    /** The lines of a /proc/PID/cgroup file, parsed (a malformed line is skipped). */
    static List<Membership> memberships(List<String> lines) {
        List<Membership> out = new ArrayList<>();
        for (String line : lines) {
            String[] f = line.split(":", 3);
            if (f.length == 3) {
                out.add(new Membership(f[1].isEmpty() ? List.of() : List.of(f[1].split(",")), f[2]));
            }
        }
        return out;
    }

    /** Process {@code pid}'s /proc/PID/cgroup, parsed. */
    static List<Membership> memberships(long pid) {
        try {
            return memberships(Files.readAllLines(Path.of("/proc", Long.toString(pid), "cgroup")));
        } catch (IOException e) {
            throw new IllegalStateException("cgroup: cannot read /proc/" + pid + "/cgroup: " + e.getMessage(), e);
        }
    }

    /** The process's cgroup path per v1 controller, from /proc/PID/cgroup. */
    static Map<String, String> currentPaths(long pid) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Membership m : memberships(pid)) {
            for (String c : m.controllers()) {
                out.put(c, m.path());
            }
        }
        return out;
    }

    /** The settings' distinct controllers, in order. */
    public static List<String> controllers(List<CgroupSetting> settings) {
        List<String> out = new ArrayList<>();
        for (CgroupSetting s : settings) {
            if (!out.contains(s.controller())) {
                out.add(s.controller());
            }
        }
        return out;
    }
}
