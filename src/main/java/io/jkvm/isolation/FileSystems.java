package io.jkvm.isolation;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * File systems where Landlock's rules do not hold. Landlock ties a rule to the inode its path
 * resolved to when the rule was added; 9p without an inode cache (cache=none or mmap, as the
 * lab mounts the host's files) makes a new inode at every lookup, so a path the policy allows is
 * refused a moment later (landlock-lsm/linux issue 45). A policy with such a path would break the
 * VMM, not confine it.
 */
public final class FileSystems {
    private FileSystems() {}

    /** statfs(2) (asm/unistd_64.h); struct statfs starts with its __fsword_t f_type and is 120 bytes on x86-64. */
    private static final long NR_STATFS = 137;
    /** V9FS_MAGIC (linux/magic.h). */
    static final long V9FS_MAGIC = 0x01021997L;

    /** Why Landlock cannot hold a rule on {@code path} (null: it can, or the path does not exist). */
    public static String landlockUnreliable(Path path) {
        if (!Files.exists(path)) {
            return null;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(128, 8);
            Syscall.Result r = Syscall.call(NR_STATFS, a.allocateFrom(path.toString()).address(), buf.address(), 0);
            if (r.failed()) {
                return null; // not knowable: Landlock's own errors will say more
            }
            return buf.get(JAVA_LONG, 0) == V9FS_MAGIC || onNineP(path) ? nineP(path) : null;
        }
    }

    /**
     * Whether {@code path} lies on a 9p mount, by the mount table: statfs cannot say, since a 9p
     * client reports the f_type the server's file system has (the lab's QEMU answers ext4's).
     */
    static boolean onNineP(Path path) {
        Path p;
        try {
            p = path.toRealPath();
        } catch (java.io.IOException e) {
            p = path.toAbsolutePath().normalize();
        }
        String best = null;
        String bestType = null;
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                int dash = line.indexOf(" - ");
                String[] pre = dash < 0 ? new String[0] : line.substring(0, dash).split(" ");
                String[] post = dash < 0 ? new String[0] : line.substring(dash + 3).split(" ");
                if (pre.length < 5 || post.length < 1) {
                    continue;
                }
                String mount = pre[4].replace("\\040", " ");
                if (p.startsWith(Path.of(mount)) && (best == null || mount.length() >= best.length())) {
                    best = mount;
                    bestType = post[0];
                }
            }
        } catch (java.io.IOException e) {
            return false;
        }
        return "9p".equals(bestType);
    }

    static String nineP(Path path) {
        return path + " is on a 9p file system, where Landlock's rules do not hold (a new inode at each lookup)";
    }

    /** The first rule of {@code policy} whose path Landlock cannot hold, as a reason (null: none). */
    static String landlockUnreliable(LandlockPolicy policy) {
        for (LandlockPolicy.Rule r : policy.rules()) {
            String why = landlockUnreliable(r.path());
            if (why != null) {
                return why;
            }
        }
        return null;
    }
}
