package io.jkvm.isolation;

import io.jkvm.kvm.Native;
import io.jkvm.kvm.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

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
    /** enum landlock_rule_type. */
    private static final int RULE_PATH_BENEATH = 1;
    /** struct landlock_path_beneath_attr is packed: __u64 allowed_access; __s32 parent_fd. */
    private static final int PATH_BENEATH_SIZE = 12;
    /**
     * struct landlock_ruleset_attr is extensible (handled_access_net from ABI 4, scoped from
     * ABI 6); the kernel accepts the older, shorter size, and only the first field is used here.
     */
    private static final int RULESET_ATTR_SIZE = 8;

    /** What was applied: the ABI, how many rules, and whether every thread is confined. */
    public record Applied(LandlockAbi abi, int rules, boolean allThreads) {}

    /** Confines this thread (and, from ABI 8, every thread) to {@code policy}; throws naming the failed call. */
    public static Applied apply(LandlockPolicy policy, LandlockAbi abi) {
        long handled = abi.handledFs();
        int rulesetFd;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment attr = a.allocate(RULESET_ATTR_SIZE);
            attr.set(JAVA_LONG_UNALIGNED, 0, handled);
            rulesetFd = (int) Syscall.call(Syscall.LANDLOCK_CREATE_RULESET, attr.address(), RULESET_ATTR_SIZE, 0)
                    .orThrow("landlock_create_ruleset");
        }
        try {
            int added = 0;
            for (LandlockPolicy.Rule rule : policy.rules()) {
                if (addRule(rulesetFd, rule, handled)) {
                    added++;
                }
            }
            int flags = abi.allThreads() ? LandlockAbi.RESTRICT_SELF_TSYNC : 0;
            Syscall.call(Syscall.LANDLOCK_RESTRICT_SELF, rulesetFd, flags, 0).orThrow("landlock_restrict_self");
            return new Applied(abi, added, abi.allThreads());
        } finally {
            Native.close(rulesetFd);
        }
    }

    /** Adds one rule; a path that does not exist (an optional one, like /dev/net/tun) adds nothing. */
    private static boolean addRule(int rulesetFd, LandlockPolicy.Rule rule, long handled) {
        Path p = rule.path();
        if (!Files.exists(p)) {
            return false;
        }
        boolean dir = Files.isDirectory(p);
        long allowed = rule.access().rights(dir) & handled;
        if (!dir) {
            allowed &= LandlockAbi.FILE_RIGHTS; // the kernel refuses directory rights on a file (EINVAL)
        }
        if (allowed == 0) {
            return false;
        }
        int fd;
        try {
            fd = Native.open(p.toString(), O_PATH | Native.O_CLOEXEC);
        } catch (NativeException e) {
            return false; // vanished or not even searchable: no rule, so no access
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment attr = a.allocate(PATH_BENEATH_SIZE);
            attr.set(JAVA_LONG_UNALIGNED, 0, allowed);
            attr.set(JAVA_INT_UNALIGNED, 8, fd);
            Syscall.call(Syscall.LANDLOCK_ADD_RULE, rulesetFd, RULE_PATH_BENEATH, attr.address(), 0)
                    .orThrow("landlock_add_rule(" + p + ")");
            return true;
        } finally {
            Native.close(fd);
        }
    }

}
