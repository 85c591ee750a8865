package io.jkvm.isolation;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

/**
 * Applies a {@link LandlockPolicy}: one ruleset handling every filesystem right the kernel's ABI
 * knows, one {@code LANDLOCK_RULE_PATH_BENEATH} rule per existing path, then
 * {@code landlock_restrict_self}. The steps and struct layouts are those of
 * Documentation/userspace-api/landlock.rst and {@code linux/landlock.h}; no_new_privs must be
 * set first (the caller, {@link Confinement}, does it), as restrict_self demands without
 * CAP_SYS_ADMIN.
 */
public final class Landlock {
    private Landlock() {}

    /** O_PATH (asm-generic/fcntl.h): a rule's parent_fd names the file, it is never read. */
    private static final int O_PATH = 0x200000;
    private static final int O_CLOEXEC = 0x80000;
    /** enum landlock_rule_type. */
    private static final int RULE_PATH_BENEATH = 1;
    /** struct landlock_path_beneath_attr is packed: __u64 allowed_access; __s32 parent_fd. */
    private static final int PATH_BENEATH_SIZE = 12;
    /**
     * struct landlock_ruleset_attr is extensible (handled_access_net from ABI 4, scoped from
     * ABI 6); the kernel accepts the older, shorter size, and only the first field is used here.
     */
    private static final int RULESET_ATTR_SIZE = 8;

    /**
     * What was applied: the ABI, how many rules, and whether every thread is confined; or, with
     * {@code unreliable} set, nothing at all, because a rule's path is on a file system where
     * Landlock's rules do not hold ({@link FileSystems}).
     */
    public record Applied(LandlockAbi abi, int rules, boolean allThreads, String unreliable) {}

    // openat(2), fstat(2), fstatfs(2) (asm/unistd_64.h); AT_FDCWD (linux/fcntl.h).
    private static final long NR_OPENAT = 257;
    private static final long NR_FSTAT = 5;
    private static final long NR_FSTATFS = 138;
    private static final int AT_FDCWD = -100;
    /** struct stat (x86-64): st_mode is the __u32 at offset 24; S_IFMT and S_IFDIR from linux/stat.h. */
    private static final int ST_MODE = 24;
    private static final int S_IFMT = 0170000;
    private static final int S_IFDIR = 0040000;

    /**
     * Confines this thread (and, from ABI 8, every thread) to {@code policy}; throws naming the
     * failed call. Each path is opened once (O_PATH): its type, its file system and the rule
     * come from that descriptor, so a boot pays one path walk per rule.
     */
    public static Applied apply(LandlockPolicy policy, LandlockAbi abi) {
        return build(policy, abi, true);
    }

    /**
     * Everything {@link #apply} does but the restriction: a ruleset built and dropped, so the
     * code and bindings are ready when the VM starts ({@link Confinement#checked}).
     */
    static void rehearse(LandlockPolicy policy, LandlockAbi abi) {
        build(policy, abi, false);
    }

    private static Applied build(LandlockPolicy policy, LandlockAbi abi, boolean restrict) {
        long handled = abi.handledFs();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment attr = a.allocate(RULESET_ATTR_SIZE);
            attr.set(JAVA_LONG_UNALIGNED, 0, handled);
            int rulesetFd = (int) Syscall.call(Syscall.LANDLOCK_CREATE_RULESET, attr.address(), RULESET_ATTR_SIZE, 0)
                    .orThrow("landlock_create_ruleset");
            try {
                MemorySegment stat = a.allocate(256, 8);
                MemorySegment rule = a.allocate(PATH_BENEATH_SIZE);
                int added = 0;
                for (LandlockPolicy.Rule r : policy.rules()) {
                    Syscall.Result open = Syscall.call(NR_OPENAT, AT_FDCWD, a.allocateFrom(r.path().toString()).address(),
                            O_PATH | O_CLOEXEC);
                    if (open.failed()) {
                        continue; // absent (an optional path, like /dev/net/tun) or unreachable: no rule, no access
                    }
                    int fd = (int) open.value();
                    try {
                        Syscall.call(NR_FSTATFS, fd, stat.address(), 0).orThrow("fstatfs(" + r.path() + ")");
                        if (stat.get(JAVA_LONG_UNALIGNED, 0) == FileSystems.V9FS_MAGIC || FileSystems.onNineP(r.path())) {
                            return new Applied(abi, 0, false, FileSystems.nineP(r.path()));
                        }
                        Syscall.call(NR_FSTAT, fd, stat.address(), 0).orThrow("fstat(" + r.path() + ")");
                        boolean dir = (stat.get(JAVA_INT_UNALIGNED, ST_MODE) & S_IFMT) == S_IFDIR;
                        long allowed = r.access().rights(dir) & handled;
                        if (!dir) {
                            allowed &= LandlockAbi.FILE_RIGHTS; // the kernel refuses directory rights on a file (EINVAL)
                        }
                        if (allowed == 0) {
                            continue;
                        }
                        rule.set(JAVA_LONG_UNALIGNED, 0, allowed);
                        rule.set(JAVA_INT_UNALIGNED, 8, fd);
                        Syscall.call(Syscall.LANDLOCK_ADD_RULE, rulesetFd, RULE_PATH_BENEATH, rule.address(), 0)
                                .orThrow("landlock_add_rule(" + r.path() + ")");
                        added++;
                    } finally {
                        Syscall.close(fd);
                    }
                }
                if (restrict) {
                    int flags = abi.allThreads() ? LandlockAbi.RESTRICT_SELF_TSYNC : 0;
                    Syscall.call(Syscall.LANDLOCK_RESTRICT_SELF, rulesetFd, flags, 0).orThrow("landlock_restrict_self");
                }
                return new Applied(abi, added, abi.allThreads(), null);
            } finally {
                Syscall.close(rulesetFd);
            }
        }
    }
}
