package io.jkvm.isolation;

import io.jkvm.kvm.Native;
import io.jkvm.kvm.NativeException;
import io.jkvm.resources.Cgroups;
import io.jkvm.resources.CgroupsV2;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds a Firecracker-style jail and starts the VMM in it, in the order of Firecracker's
 * jailer (docs/jailer.md, "Jailer Operation"): limits, the jail directory, cgroups, a private
 * mount namespace with {@code pivot_root} into the jail, device nodes, ownership, the network
 * namespace, daemonizing, an optional PID namespace, then the VMM's user and group.
 *
 * <p><b>Why this works from a JVM.</b> A JVM cannot fork safely once its threads run. It does
 * not need to: Linux keeps namespaces, the root directory and the working directory per
 * thread, so this class makes every call on the one thread that calls {@link #run}, and that
 * thread then either {@code execve}s the VMM (the process becomes the VMM with the thread's
 * namespaces, root and credentials; the other JVM threads end) or, with a new PID namespace,
 * spawns it (a child inherits the spawning thread's namespaces, root and credentials, and is
 * the namespace's first process). The JVM's other threads stay where they were until then.
 *
 * <p><b>What is in the jail.</b> Firecracker's jail holds one static binary; jkvm's VMM is a JVM,
 * so the jail also holds, read-only, nosuid and nodev at their host paths: /usr (the JDK's
 * libraries and the C library), the JDK, jkvm's class path and the class-data files its JVM
 * options name, and the host's /bin, /lib... links. A proc file system shows the VMM only its
 * own processes ({@code hidepid=invisible,subset=pid}): the dynamic loader finds the JDK's
 * libraries through /proc/self/exe. Device nodes, on a tmpfs of the jail's own: /dev/kvm and
 * /dev/net/tun (the VMM's user's, 0600, as Firecracker's), /dev/urandom, /dev/random, /dev/null. {@code /run} is the VMM's,
 * for its API socket's default path. Nothing else: no /etc, /home, /tmp, /sys.
 */
public final class Jail {
    private Jail() {}

    /**
     * The VMM to start: {@code program} and {@code argv} as the jail sees them (host paths, bound
     * at the same place), and the host paths it needs, each bound read-only into the jail.
     */
    public record Vmm(String program, List<String> argv, List<Path> needs) {
        public Vmm {
            argv = List.copyOf(argv);
            needs = List.copyOf(needs);
        }
    }

    /** The host's top-level links into /usr (a merged-/usr system) or directories, mirrored in the jail. */
    private static final List<String> ROOT_ENTRIES = List.of("bin", "sbin", "lib", "lib32", "lib64", "libx32");
    private static final String OLD_ROOT = "old_root";

    /**
     * Builds the jail and starts {@code vmm} in it.
     *
     * @return the VMM's pid when it runs in a new PID namespace (a child of this process); without
     *         one this process becomes the VMM and the call does not return
     * @throws IllegalArgumentException for a setting the host cannot honour, naming its flag
     * @throws NativeException naming the call that failed and its errno
     */
    public static long run(JailerConfig c, Vmm vmm) throws IOException {
        // Limits first: they bound this process and what it execs or spawns (no-file: 2048 unless given).
        JailCalls.setLimit(JailCalls.RLIMIT_NOFILE, c.openFiles(), "no-file");
        if (c.fileSizeLimit() != null) {
            JailCalls.setLimit(JailCalls.RLIMIT_FSIZE, c.fileSizeLimit(), "fsize");
        }
        if (c.uid() != 0) {
            for (Path p : vmm.needs()) {
                String why = unreadable(p, c.uid(), c.gid());
                if (why != null) {
                    throw new IllegalArgumentException("--uid " + c.uid() + ": the VMM needs " + p + " in its jail, and the VM's"
                            + " user cannot read it (" + why + ")");
                }
            }
        }
        Path root = c.jailRoot();
        Files.createDirectories(root);
        long pid = ProcessHandle.current().pid();
        if (!c.cgroups().isEmpty()) {
            // Moving the whole process (cgroup.procs): the VMM it becomes or spawns starts inside.
            if (c.cgroupVersion() == 1) {
                Cgroups.applyAt(pid, c.id(), c.cgroups(), c.cgroupParent());
            } else {
                CgroupsV2.apply(pid, c.id(), c.cgroups(), c.cgroupParent());
            }
        }
        // Opened on the host's paths, before the mount namespace hides them.
        int netns = c.netns() == null ? -1 : Native.open(c.netns().toString(), Native.O_RDONLY | Native.O_CLOEXEC);
        int devNull = c.daemonize() ? Native.open("/dev/null", Native.O_RDWR | Native.O_CLOEXEC) : -1;
        long kvm = hostDevice("/dev/kvm", JailCalls.makedev(10, 232));
        long tun = hostDevice("/dev/net/tun", JailCalls.makedev(10, 200));

        JailCalls.unshare(JailCalls.CLONE_NEWNS, "CLONE_NEWNS");
        // Nothing mounted from here on reaches the host's namespace.
        JailCalls.mount(null, "/", null, JailCalls.MS_PRIVATE | JailCalls.MS_REC, null);
        // pivot_root needs the new root to be a mount point.
        JailCalls.mount(root.toString(), root.toString(), null, JailCalls.MS_BIND, null);
        furnish(root, c, vmm.needs(), kvm, tun);
        enter(root);

        if (netns >= 0) {
            JailCalls.setns(netns, JailCalls.CLONE_NEWNET, c.netns().toString());
            Native.close(netns);
        }
        if (devNull >= 0) {
            daemonize(devNull);
        }
        if (c.newPidNs()) {
            JailCalls.unshare(JailCalls.CLONE_NEWPID, "CLONE_NEWPID"); // for the children of this thread only
        }
        // Inherited by what this thread execs or spawns: no set-uid or file-capability gain, ever.
        Syscall.noNewPrivs();
        if (c.uid() != 0) {
            new VmIdentity(c.uid(), c.gid()).assume(); // leaving uid 0 clears every capability
        }
        Path pidFile = Path.of("/", c.execName() + ".pid");
        unblockSignals();
        JailCalls.closeOnExecFrom(3); // the VMM inherits 0, 1 and 2 only
        if (c.newPidNs()) {
            long child = JailCalls.spawn(vmm.program(), vmm.argv(), List.of());
            Files.writeString(pidFile, child + "\n", StandardCharsets.US_ASCII);
            return child;
        }
        Files.writeString(pidFile, pid + "\n", StandardCharsets.US_ASCII);
        JailCalls.execve(vmm.program(), vmm.argv(), List.of()); // an empty environment, as Firecracker's jailer
        throw new IllegalStateException("unreachable");
    }

    /**
     * Why {@code uid}/{@code gid} could not read {@code p} (list and search it, for a directory)
     * by its own mode bits, or null when it could: bound into the jail, the file keeps its mode,
     * while the directories above it are the jail's own (0755).
     */
    static String unreadable(Path p, int uid, int gid) {
        try {
            if (!Files.exists(p)) {
                return null; // not bound: nothing to read
            }
            int mode = (Integer) Files.getAttribute(p, "unix:mode");
            int owner = (Integer) Files.getAttribute(p, "unix:uid");
            int group = (Integer) Files.getAttribute(p, "unix:gid");
            int bits = owner == uid ? (mode >> 6) & 7 : group == gid ? (mode >> 3) & 7 : mode & 7;
            int need = Files.isDirectory(p) ? 5 : 4;
            return (bits & need) == need ? null
                    : "mode " + Integer.toOctalString(mode & 07777) + ", owner " + owner + ", group " + group;
        } catch (IOException | UnsupportedOperationException e) {
            return "cannot read its mode: " + e.getMessage();
        }
    }

    /** Everything the jail holds, made on the host's file system below {@code root} (see the class comment). */
    private static void furnish(Path root, JailerConfig c, List<Path> needs, long kvm, long tun) throws IOException {
        for (String name : ROOT_ENTRIES) {
            Path host = Path.of("/", name);
            Path in = root.resolve(name);
            if (Files.isSymbolicLink(host)) {
                if (!Files.exists(in, LinkOption.NOFOLLOW_LINKS)) {
                    Files.createSymbolicLink(in, Files.readSymbolicLink(host));
                }
            } else if (Files.isDirectory(host)) {
                bind(root, host);
            }
        }
        bind(root, Path.of("/usr"));
        // The jail's /dev is a small tmpfs of its own: its nodes open whatever holds the jail (a
        // nodev /dev/shm, a 9p share), and none of them is left on the host's disk afterwards.
        // Mounted before the binds below, which may land in it (a class path under /dev/shm).
        Path dev = Files.createDirectories(root.resolve("dev"));
        JailCalls.mount("tmpfs", dev.toString(), "tmpfs", JailCalls.MS_NOSUID | JailCalls.MS_NOEXEC,
                "mode=755,size=64k,nr_inodes=256");
        Files.createDirectories(dev.resolve("net"));
        node(dev.resolve("kvm"), "rw-------", kvm, c.uid(), c.gid());
        node(dev.resolve("net/tun"), "rw-------", tun, c.uid(), c.gid());
        node(dev.resolve("urandom"), "rw-rw-rw-", JailCalls.makedev(1, 9), 0, 0);
        node(dev.resolve("random"), "rw-rw-rw-", JailCalls.makedev(1, 8), 0, 0);
        node(dev.resolve("null"), "rw-rw-rw-", JailCalls.makedev(1, 3), 0, 0);
        List<Path> bound = new ArrayList<>(List.of(Path.of("/usr"), Path.of("/proc")));
        for (Path p : needs.stream().map(Path::toAbsolutePath).map(Path::normalize).sorted().toList()) {
            if (bound.stream().noneMatch(p::startsWith) && Files.exists(p)) {
                bind(root, p);
                bound.add(p);
            }
        }
        Path proc = Files.createDirectories(root.resolve("proc"));
        mountProc(proc.toString());
        owned(Files.createDirectories(root.resolve("run")), c.uid(), c.gid());
        owned(root, c.uid(), c.gid()); // the VMM makes its API socket and files here
    }

    /** {@code host} bound read-only, nosuid and nodev at the same path inside {@code root}. */
    private static void bind(Path root, Path host) throws IOException {
        Path target = root.resolve(host.toString().substring(1));
        if (Files.isDirectory(host)) {
            Files.createDirectories(target);
        } else {
            Files.createDirectories(target.getParent());
            if (!Files.exists(target)) {
                Files.createFile(target);
            }
        }
        JailCalls.bindReadOnly(host.toString(), target.toString());
    }

    /**
     * A proc that lists only the VMM's own processes and none of the kernel's tunables
     * (Documentation/filesystems/proc.rst, "Mount options"); {@code subset=pid} needs Linux 5.8.
     */
    private static void mountProc(String target) {
        long flags = JailCalls.MS_NOSUID | JailCalls.MS_NODEV | JailCalls.MS_NOEXEC;
        try {
            JailCalls.mount("proc", target, "proc", flags, "hidepid=invisible,subset=pid");
        } catch (NativeException e) {
            if (e.errno() != Native.EINVAL) {
                throw e;
            }
            JailCalls.mount("proc", target, "proc", flags, "hidepid=2");
        }
    }

    /** A character device node with its permissions and owner. */
    private static void node(Path path, String perms, long dev, int uid, int gid) throws IOException {
        JailCalls.mknod(path.toString(), JailCalls.S_IFCHR | 0600, dev);
        Files.setPosixFilePermissions(path, PosixFilePermissions.fromString(perms)); // mknod's mode passes the umask
        owned(path, uid, gid);
    }

    private static void owned(Path path, int uid, int gid) throws IOException {
        Files.setAttribute(path, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
        Files.setAttribute(path, "unix:gid", gid, LinkOption.NOFOLLOW_LINKS);
    }

    /** The host's node's device number, or the fixed one Linux gives it (misc 10:232 kvm, 10:200 tun). */
    private static long hostDevice(String path, long fallback) {
        try {
            return ((Number) Files.getAttribute(Path.of(path), "unix:rdev")).longValue();
        } catch (IOException | UnsupportedOperationException e) {
            return fallback;
        }
    }

    /**
     * Makes {@code root} this thread's root: pivot_root puts the old root beneath it, which is then
     * detached and removed, so no path leads out (Firecracker's order: pivot_root, umount2, rmdir, chroot).
     */
    private static void enter(Path root) throws IOException {
        JailCalls.chdir(root.toString());
        Files.createDirectories(root.resolve(OLD_ROOT));
        JailCalls.pivotRoot(".", OLD_ROOT);
        JailCalls.umountDetached("/" + OLD_ROOT);
        Files.delete(Path.of("/", OLD_ROOT)); // this thread's paths now resolve inside the jail
        JailCalls.chroot(".");
        JailCalls.chdir("/");
    }

    /** A new session, with 0, 1 and 2 on /dev/null (opened before the jail hid the host's). */
    private static void daemonize(int devNull) {
        try {
            JailCalls.setsid();
        } catch (NativeException e) {
            if (e.errno() != 1) {
                throw e;
            }
            throw new IllegalArgumentException("--daemonize: setsid failed with EPERM because the jailer leads its process"
                    + " group; start it from a process that is not a group leader (as Kata does; in a script: jkvm jailer ... &)");
        }
        for (int fd = 0; fd <= 2; fd++) {
            JailCalls.dup2(devNull, fd);
        }
        Native.close(devNull);
    }

    /** The exec'd VMM starts with this thread's signal mask: the JVM blocks some signals on its threads. */
    private static void unblockSignals() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment empty = a.allocate(Native.SIGSET_BYTES, 8);
            Native.pthreadSigmask(Native.SIG_SETMASK, empty, MemorySegment.NULL);
        }
    }
}
