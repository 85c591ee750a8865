package io.jkvm.isolation;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The VMM's process-wide seccomp filter: a deny list of the system calls a running VMM never
 * makes and an attacker who took over a thread would want (Documentation/userspace-api/
 * seccomp_filter.rst, man 2 seccomp). A deny list, not an allow list: the JVM under the VMM
 * makes calls that change with its version, GC and JIT, and an allow list that misses one kills
 * the VMM at an unlucky moment.
 *
 * <p>The program: check {@code seccomp_data.arch} is AUDIT_ARCH_X86_64 and kill otherwise, in
 * {@code log} mode too (a 32-bit int 0x80 call has other numbers, so the list would not mean
 * what it says, and the JVM never makes one); deny the x32 numbers (bit 30 set); answer ENOSYS to clone3 (its flags are in memory, which a
 * filter cannot read, so glibc is made to fall back to clone); allow clone only with
 * CLONE_THREAD and no namespace flag (a new thread, never a new process); then the deny list.
 *
 * <p>Nothing in the VMM starts a process after boot (the ProcessBuilder uses in src/main are in
 * the lab, bench and image tools, never in {@code jkvm run} or the API VMM), so execve, fork
 * and a clone without CLONE_THREAD are all denied.
 */
public final class SeccompFilter {
    private SeccompFilter() {}

    // struct seccomp_data (linux/seccomp.h): int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6].
    static final int DATA_NR = 0;
    static final int DATA_ARCH = 4;
    /** The low 32 bits of args[0] (little-endian): clone's flags. */
    static final int DATA_ARG0_LOW = 16;

    /** AUDIT_ARCH_X86_64 = EM_X86_64 (62) | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE (linux/audit.h). */
    public static final int AUDIT_ARCH_X86_64 = 0xC000003E;
    /** __X32_SYSCALL_BIT (asm/unistd.h): x32 calls share AUDIT_ARCH_X86_64 but set this bit. */
    static final int X32_SYSCALL_BIT = 0x40000000;

    // Filter return actions (linux/seccomp.h).
    public static final int RET_KILL_PROCESS = 0x80000000;
    public static final int RET_ERRNO = 0x00050000;
    public static final int RET_LOG = 0x7ffc0000;
    public static final int RET_ALLOW = 0x7fff0000;
    static final int SET_MODE_FILTER = 1;
    static final int FILTER_FLAG_TSYNC = 1;

    // clone(2) flags (linux/sched.h).
    static final int CLONE_THREAD = 0x00010000;
    /**
     * CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET. (CLONE_NEWTIME, 0x80, is
     * only valid for clone3 and unshare: in clone's flags those bits are the exit signal.)
     */
    static final int CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000
            | 0x20000000 | 0x40000000;

    static final int NR_CLONE = 56;
    static final int NR_CLONE3 = 435;
    static final int ENOSYS = 38;

    /** The denied calls by x86-64 number (asm/unistd_64.h), with why a VMM never makes them. */
    public static final Map<Integer, String> DENIED = denied();

    private static Map<Integer, String> denied() {
        Map<Integer, String> m = new TreeMap<>();
        m.put(57, "fork");
        m.put(58, "vfork");
        m.put(59, "execve");
        m.put(322, "execveat");
        m.put(101, "ptrace");
        m.put(438, "pidfd_getfd");
        m.put(310, "process_vm_readv");
        m.put(311, "process_vm_writev");
        m.put(165, "mount");
        m.put(166, "umount2");
        m.put(155, "pivot_root");
        m.put(428, "open_tree");
        m.put(429, "move_mount");
        m.put(430, "fsopen");
        m.put(431, "fsconfig");
        m.put(432, "fsmount");
        m.put(433, "fspick");
        m.put(442, "mount_setattr");
        // Host-level reach a VMM never needs: files by handle (the "shocker" escape), port I/O.
        m.put(304, "open_by_handle_at");
        m.put(172, "iopl");
        m.put(173, "ioperm");
        m.put(246, "kexec_load");
        m.put(320, "kexec_file_load");
        m.put(321, "bpf");
        m.put(175, "init_module");
        m.put(313, "finit_module");
        m.put(176, "delete_module");
        m.put(250, "keyctl");
        m.put(248, "add_key");
        m.put(249, "request_key");
        m.put(272, "unshare");
        m.put(308, "setns");
        m.put(169, "reboot");
        m.put(167, "swapon");
        m.put(168, "swapoff");
        m.put(298, "perf_event_open");
        // The lazy restore's userfaultfd comes from /dev/userfaultfd (USERFAULTFD_IOC_NEW), whose file
        // mode says who may have one; the system call would bypass that.
        m.put(323, "userfaultfd");
        return java.util.Collections.unmodifiableMap(m);
    }

    /** The action for a denied call in {@code mode}: kill the whole VMM, or log it and let it run. */
    static int denyAction(SeccompMode mode) {
        return switch (mode) {
            case ON -> RET_KILL_PROCESS;
            case LOG -> RET_LOG;
            case OFF -> throw new IllegalArgumentException("seccomp is off: no filter");
        };
    }

    /** The filter program for {@code mode} (ON or LOG). */
    public static List<Bpf.Insn> program(SeccompMode mode) {
        int deny = denyAction(mode);
        Bpf b = x86_64Call();
        b.jge(X32_SYSCALL_BIT, "deny", null);
        // ioctl first: KVM_RUN is the call a VMM makes most, and it is not on the list. (Linux 5.11+
        // caches an answer that does not depend on the arguments and skips the program; older
        // kernels run it at every call, and this way ioctl costs 6 instructions, not 50.)
        b.jeq(VcpuSeccompFilter.NR_IOCTL, "allow", null);
        b.jeq(NR_CLONE3, "enosys", null);
        b.jeq(NR_CLONE, "clone", null);
        for (int nr : DENIED.keySet()) {
            b.jeq(nr, "deny", null);
        }
        b.label("allow").ret(RET_ALLOW);
        b.label("clone").loadWord(DATA_ARG0_LOW).jset(CLONE_THREAD, null, "deny");
        b.jset(CLONE_NAMESPACES, "deny", "allow_clone");
        b.label("allow_clone").ret(RET_ALLOW);
        b.label("enosys").ret(RET_ERRNO | ENOSYS);
        b.label("deny").ret(deny);
        return b.build();
    }

    /**
     * The start of both filters (this one and {@link VcpuSeccompFilter}'s): a call of another
     * architecture is killed, in {@code log} mode too (its numbers are not x86-64's, so no list
     * would mean what it says); then A holds the call's number.
     */
    static Bpf x86_64Call() {
        Bpf b = new Bpf();
        b.loadWord(DATA_ARCH).jeq(AUDIT_ARCH_X86_64, "arch_ok", null).ret(RET_KILL_PROCESS);
        return b.label("arch_ok").loadWord(DATA_NR);
    }

    /** seccomp(SECCOMP_SET_MODE_FILTER, {@code flags}, {@code program}) for the calling thread (and with TSYNC, all). */
    static Syscall.Result load(List<Bpf.Insn> program, int flags) {
        try (Arena a = Arena.ofConfined()) {
            return Syscall.call(Syscall.SECCOMP, SET_MODE_FILTER, flags, Bpf.fprog(a, program).address());
        }
    }

    /**
     * Installs the filter on every thread of the process: SECCOMP_FILTER_FLAG_TSYNC, so the
     * JVM's threads (GC, JIT, API workers) get it too, not only the caller. no_new_privs must be
     * set first (man 2 seccomp: otherwise only a CAP_SYS_ADMIN caller may install a filter).
     */
    public static void install(SeccompMode mode) {
        Syscall.Result r = load(program(mode), FILTER_FLAG_TSYNC);
        if (r.value() > 0) {
            // With TSYNC a positive result is the id of a thread that could not be synchronised.
            throw new IllegalStateException("seccomp(SET_MODE_FILTER, TSYNC): thread " + r.value()
                    + " could not take the filter");
        }
        r.orThrow("seccomp(SET_MODE_FILTER, TSYNC)");
    }

    /**
     * Whether the kernel has seccomp filters: seccomp(SECCOMP_GET_ACTION_AVAIL) for the action
     * mode {@code on} uses (Linux 4.14+); EINVAL/ENOSYS means no (or too old a) seccomp.
     */
    public static String unavailable() {
        try (Arena a = Arena.ofConfined()) {
            var action = a.allocate(4);
            action.set(java.lang.foreign.ValueLayout.JAVA_INT, 0, RET_KILL_PROCESS);
            Syscall.Result r = Syscall.call(Syscall.SECCOMP, 2 /* SECCOMP_GET_ACTION_AVAIL */, 0, action.address());
            return r.failed() ? "the kernel has no seccomp filters with SECCOMP_RET_KILL_PROCESS ("
                    + io.jkvm.kvm.Native.strerror(r.errno()) + ")" : null;
        }
    }
}
