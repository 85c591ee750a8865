package io.jkvm.isolation;

import io.jkvm.kvm.Native;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The unprivileged user and group a VMM becomes once its VM is built (the Firecracker jailer's
 * {@code --uid}/{@code --gid}; libvirt runs each QEMU as its own user): from then on the VMM can
 * open only what that user may, so a VM whose VMM a guest took over still cannot open another
 * VM's disks when each VM has its own uid and its images are that uid's alone.
 *
 * <p>The change goes through glibc's setgroups/setresgid/setresuid, not the raw system calls:
 * Linux credentials are per thread, and glibc alone knows every thread of the process (the JVM's
 * are pthreads) and changes them all. Every thread is checked afterwards, and a process where
 * one thread kept root is refused rather than run. Leaving uid 0 clears every capability
 * (capabilities(7), "Effect of user ID changes"), which is the point.
 */
public record VmIdentity(int uid, int gid) {
    public static final String UID_FLAG = "--uid";
    public static final String GID_FLAG = "--gid";

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final MethodHandle SETGROUPS = libc("setgroups", FunctionDescriptor.of(JAVA_INT, JAVA_LONG, ADDRESS));
    private static final MethodHandle SETRESGID = libc("setresgid", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle SETRESUID = libc("setresuid", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));

    public VmIdentity {
        if (uid <= 0) {
            throw new IllegalArgumentException(UID_FLAG + " " + Integer.toUnsignedString(uid)
                    + ": must be an unprivileged user id (1 to 2147483647), not root");
        }
        if (gid <= 0) {
            throw new IllegalArgumentException(GID_FLAG + " " + Integer.toUnsignedString(gid)
                    + ": must be an unprivileged group id (1 to 2147483647), not root");
        }
    }

    /**
     * From the flags' values; both or neither.
     *
     * @return null when neither is given
     * @throws IllegalArgumentException naming the flag
     */
    public static VmIdentity parse(String uid, String gid) {
        if (uid == null && gid == null) {
            return null;
        }
        if (uid == null || gid == null) {
            throw new IllegalArgumentException(UID_FLAG + " and " + GID_FLAG + " go together");
        }
        return new VmIdentity(number(UID_FLAG, uid), number(GID_FLAG, gid));
    }

    private static int number(String flag, String text) {
        String t = text.strip();
        if (t.isEmpty() || t.length() > 10 || !t.chars().allMatch(Character::isDigit) || Long.parseLong(t) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(flag + " " + text + ": must be a number from 1 to 2147483647");
        }
        return Integer.parseInt(t);
    }

    /**
     * Whether this process can become the identity: root can become anyone; a process already
     * running as exactly this user and group has nothing to change.
     *
     * @throws IllegalArgumentException naming the flag, before anything boots
     */
    public void requirePossible() {
        if (Native.geteuid() != 0 && !isCurrent()) {
            throw new IllegalArgumentException(UID_FLAG + " " + uid + ": the VMM must start as root to change to another user"
                    + " (it runs as uid " + Native.geteuid() + ")");
        }
        // The JVM reads a class from a class-path directory when the class is first used, which
        // may be after the change: each such directory must be the new user's to read.
        for (String entry : System.getProperty("java.class.path", "").split(java.io.File.pathSeparator)) {
            Path p = Path.of(entry.isEmpty() ? "." : entry).toAbsolutePath();
            if (Files.isDirectory(p)) {
                String why = unreadableBy(p);
                if (why != null) {
                    throw new IllegalArgumentException(UID_FLAG + " " + uid + ": the class-path directory " + p
                            + " is not readable by uid " + uid + " (" + why + "); run jkvm from a jar or a readable directory");
                }
            }
        }
    }

    /**
     * Why this user could not list {@code dir} and read its files, from the mode bits of it and
     * its ancestors (owner, group, other; ACLs are not read); null when it could.
     */
    String unreadableBy(Path dir) {
        return unreachable(dir, 5); // r-x on the directory itself
    }

    /**
     * Why this user could not open {@code file} with the access bits {@code need} (4 read, 2
     * write) through its directories, from the mode bits (ACLs are not read); null when it could.
     */
    public String unreachable(Path file, int need) {
        return unreachable0(file.toAbsolutePath(), need);
    }

    private String unreachable0(Path target, int needOnTarget) {
        try {
            for (Path p = target; p != null; p = p.getParent()) {
                int mode = (Integer) Files.getAttribute(p, "unix:mode");
                int owner = (Integer) Files.getAttribute(p, "unix:uid");
                int group = (Integer) Files.getAttribute(p, "unix:gid");
                int bits = owner == uid ? (mode >> 6) & 7 : group == gid ? (mode >> 3) & 7 : mode & 7;
                int need = p.equals(target) ? needOnTarget : 1; // search (--x) on every directory above
                if ((bits & need) != need) {
                    return p + " is mode " + Integer.toOctalString(mode & 07777) + ", owner " + owner + ", group " + group;
                }
            }
            return null;
        } catch (IOException | UnsupportedOperationException e) {
            return "cannot read its mode: " + e.getMessage();
        }
    }

    /**
     * Makes every thread of this process this user and group, with no supplementary groups.
     *
     * @throws IllegalStateException naming the call and errno, or the thread that did not change
     */
    public void assume() {
        if (isCurrent()) {
            return;
        }
        openEveryClassPathJar();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cap = a.allocate(CAPTURE);
            // Groups first: once the uid is not 0 there is no privilege left to change them.
            check((int) SETGROUPS.invokeExact(cap, 0L, MemorySegment.NULL), cap, "setgroups(0)");
            check((int) SETRESGID.invokeExact(cap, gid, gid, gid), cap, "setresgid(" + gid + ")");
            check((int) SETRESUID.invokeExact(cap, uid, uid, uid), cap, "setresuid(" + uid + ")");
        } catch (IllegalStateException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(UID_FLAG + " " + uid + ": " + t, t);
        }
        String kept = threadStillPrivileged();
        if (kept != null) {
            throw new IllegalStateException(UID_FLAG + " " + uid + ": " + kept);
        }
    }

    /**
     * Looks up a resource no jar has, which makes the class loader open every jar on the class
     * path while this process may still read them all (a jar under /root is root's): an open
     * jar stays open, so classes first needed after the change still load.
     */
    private static void openEveryClassPathJar() {
        try {
            ClassLoader.getSystemClassLoader().getResources("io/jkvm/isolation/no-such-resource").hasMoreElements();
        } catch (IOException e) {
            // Only an optimisation of what is readable later; requirePossible checked the directories.
        }
    }

    /** Whether this process already is this user and group (real, effective and saved). */
    private boolean isCurrent() {
        try {
            List<String> status = Files.readAllLines(Path.of("/proc/self/status"));
            return matches(status);
        } catch (IOException e) {
            return false;
        }
    }

    private boolean matches(List<String> status) {
        String u = "Uid:\t" + uid + "\t" + uid + "\t" + uid + "\t" + uid;
        String g = "Gid:\t" + gid + "\t" + gid + "\t" + gid + "\t" + gid;
        // No supplementary groups either (kvm, disk...): the identity is this user and group alone.
        boolean noGroups = status.stream().anyMatch(l -> l.startsWith("Groups:") && l.substring("Groups:".length()).isBlank());
        return status.contains(u) && status.contains(g) && noGroups;
    }

    /** A thread whose ids did not all change, described; null when every thread is this identity. */
    private String threadStillPrivileged() {
        try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path t : tasks.toList()) {
                List<String> status;
                try {
                    status = Files.readAllLines(t.resolve("status"));
                } catch (IOException gone) {
                    continue; // the thread ended
                }
                if (!matches(status)) {
                    return "thread " + t.getFileName() + " kept other ids after setresuid ("
                            + status.stream().filter(l -> l.startsWith("Uid:") || l.startsWith("Gid:")).toList() + ")";
                }
            }
            return null;
        } catch (IOException e) {
            return "cannot check the threads' ids: " + e.getMessage();
        }
    }

    private static void check(int r, MemorySegment cap, String call) {
        if (r != 0) {
            int errno = (int) ERRNO.get(cap, 0L);
            throw new IllegalStateException(UID_FLAG + ": " + call + " failed: errno " + errno
                    + (errno == 1 ? " (EPERM: not root)" : ""));
        }
    }

    private static MethodHandle libc(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LINKER.defaultLookup().find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc lacks " + name)),
                fd, Linker.Option.captureCallState("errno"));
    }
}
