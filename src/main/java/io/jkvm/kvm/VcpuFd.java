package io.jkvm.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

import static io.jkvm.kvm.KvmIoctls.*;

/**
 * A vCPU file descriptor and its shared {@code kvm_run} page.
 *
 * <p>Only the thread that runs the vCPU calls {@link #run()}; state ioctls are made by that thread
 * or while the vCPU is known not to be in KVM_RUN (api.rst: vCPU ioctls should be issued from the
 * thread that created... in practice KVM serialises them with the vCPU mutex).
 */
public final class VcpuFd implements AutoCloseable {
    /** Real-time signal used to kick a vCPU thread out of KVM_RUN (never delivered to a handler). */
    public static final int KICK_SIGNAL = 40;

    private final VmFd vm;
    private final int id;
    private final int fd;
    private final MemorySegment runPage;
    private final KvmRun run;
    private static volatile boolean handlerInstalled;

    private final Object kickLock = new Object();
    private int tid = -1;
    private MemorySegment kickSet;
    private MemorySegment zeroTimeout;

    VcpuFd(VmFd vm, int id, int fd, int mmapSize) {
        this.vm = vm;
        this.id = id;
        this.fd = fd;
        this.runPage = Native.mmap(0, mmapSize, Native.PROT_READ | Native.PROT_WRITE, Native.MAP_SHARED, fd, 0);
        this.run = new KvmRun(runPage);
    }

    public int id() {
        return id;
    }

    public int fd() {
        return fd;
    }

    public VmFd vm() {
        return vm;
    }

    /** The shared kvm_run page: exit reason and exit data. */
    public KvmRun runState() {
        return run;
    }

    /**
     * Prepares the calling thread to run this vCPU and to be kicked: blocks {@link #KICK_SIGNAL}
     * in the thread and tells KVM to unblock it only while in KVM_RUN (KVM_SET_SIGNAL_MASK), so a
     * kick makes KVM_RUN return EINTR and the signal then stays pending until {@link #run()}
     * consumes it. No signal handler is ever invoked, so nothing runs on a signal stack.
     */
    public void bindToCurrentThread() {
        installKickHandler();
        Arena arena = Arena.global();
        kickSet = Native.sigset(arena, KICK_SIGNAL);
        zeroTimeout = arena.allocate(16, 8);
        MemorySegment old = arena.allocate(Native.SIGSET_BYTES, 8);
        Native.pthreadSigmask(Native.SIG_BLOCK, kickSet, old);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(4 + Native.KERNEL_SIGSET_BYTES, 8);
            m.set(ValueLayout.JAVA_INT, 0, Native.KERNEL_SIGSET_BYTES);
            long mask = old.get(ValueLayout.JAVA_LONG, 0) & ~(1L << (KICK_SIGNAL - 1));
            m.set(ValueLayout.JAVA_LONG_UNALIGNED, 4, mask);
            Native.ioctl(fd, KVM_SET_SIGNAL_MASK, m, "KVM_SET_SIGNAL_MASK");
        }
        synchronized (kickLock) {
            tid = Native.gettid();
        }
    }

    private static void installKickHandler() {
        if (!handlerInstalled) {
            synchronized (VcpuFd.class) {
                if (!handlerInstalled) {
                    Native.installNoopHandler(KICK_SIGNAL);
                    handlerInstalled = true;
                }
            }
        }
    }

    /**
     * Called by the vCPU thread before it ends, so a later kick can never hit another thread
     * that reuses the same thread ID.
     */
    public void unbindFromCurrentThread() {
        synchronized (kickLock) {
            tid = -1;
        }
        drainKicks();
    }

    /** Consumes every queued kick (real-time signals queue) so none is left pending. */
    private void drainKicks() {
        if (kickSet != null) {
            while (Native.sigtimedwaitNow(kickSet, zeroTimeout) > 0) {
                // keep draining
            }
        }
    }

    /**
     * KVM_RUN. Returns the exit reason, or {@link KvmIoctls#KVM_EXIT_INTR} when the vCPU was kicked
     * (EINTR/EAGAIN), after consuming a pending kick signal.
     */
    public int run() {
        int r = Native.ioctlOrErrno(fd, KVM_RUN, 0);
        if (r == -Native.EINTR || r == -Native.EAGAIN) {
            drainKicks();
            return KVM_EXIT_INTR;
        }
        if (r < 0) {
            throw new KvmException("KVM_RUN (vcpu " + id + ")", -r);
        }
        return run.exitReason();
    }

    /**
     * Completes an exit's pending operation without running guest code: KVM_RUN with
     * immediate_exit set. After KVM_EXIT_IO/MMIO the instruction is finished (an IN's data
     * stored, RIP advanced) only when userspace re-enters KVM_RUN, and that pending state is not
     * visible in any state ioctl, so it must be completed before the vCPU state is saved
     * (api.rst, KVM_RUN: "userspace should ensure that the operation is completed before
     * performing a live migration ... re-enter the guest ... with the immediate_exit field set").
     * Call from the vCPU's own thread, between runs.
     */
    public void completePendingOperations() {
        run.immediateExit(true);
        int r = Native.ioctlOrErrno(fd, KVM_RUN, 0);
        drainKicks();
        if (r < 0 && r != -Native.EINTR && r != -Native.EAGAIN) {
            throw new KvmException("KVM_RUN with immediate_exit (vcpu " + id + ")", -r);
        }
    }

    /**
     * Makes KVM_RUN return to userspace soon: sets immediate_exit (covers a vCPU about to enter)
     * and signals the thread (covers a vCPU already in guest mode). Safe from any thread.
     */
    public void kick() {
        run.immediateExit(true);
        synchronized (kickLock) {
            if (tid > 0) {
                Native.tgkill(tid, KICK_SIGNAL);
            }
        }
    }

    public void clearImmediateExit() {
        run.immediateExit(false);
    }

    private byte[] get(long ioctl, int size, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(size, 8);
            Native.ioctl(fd, ioctl, s, name);
            return s.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    private void set(long ioctl, byte[] data, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(data.length, 8);
            MemorySegment.copy(data, 0, s, ValueLayout.JAVA_BYTE, 0, data.length);
            Native.ioctl(fd, ioctl, s, name);
        }
    }

    public Regs getRegs() {
        return new Regs(get(KVM_GET_REGS, KvmStructs.REGS_SIZE, "KVM_GET_REGS"));
    }

    public void setRegs(Regs r) {
        set(KVM_SET_REGS, r.bytes(), "KVM_SET_REGS");
    }

    public Sregs getSregs() {
        return new Sregs(get(KVM_GET_SREGS, KvmStructs.SREGS_SIZE, "KVM_GET_SREGS"));
    }

    public void setSregs(Sregs s) {
        set(KVM_SET_SREGS, s.bytes(), "KVM_SET_SREGS");
    }

    public StructBuffer getFpu() {
        return new StructBuffer(get(KVM_GET_FPU, KvmStructs.FPU_SIZE, "KVM_GET_FPU"));
    }

    public void setFpu(StructBuffer fpu) {
        set(KVM_SET_FPU, fpu.bytes(), "KVM_SET_FPU");
    }

    public StructBuffer getLapic() {
        return new StructBuffer(get(KVM_GET_LAPIC, KvmStructs.LAPIC_SIZE, "KVM_GET_LAPIC"));
    }

    public void setLapic(StructBuffer lapic) {
        set(KVM_SET_LAPIC, lapic.bytes(), "KVM_SET_LAPIC");
    }

    public int getMpState() {
        return new StructBuffer(get(KVM_GET_MP_STATE, 4, "KVM_GET_MP_STATE")).u32(0);
    }

    public void setMpState(int state) {
        StructBuffer b = new StructBuffer(4);
        b.u32(0, state);
        set(KVM_SET_MP_STATE, b.bytes(), "KVM_SET_MP_STATE");
    }

    /** Generic fixed-size state read/write for snapshot (vcpu events, xsave, xcrs, debugregs). */
    public byte[] getState(long ioctl, int size, String name) {
        return get(ioctl, size, name);
    }

    public void setState(long ioctl, byte[] data, String name) {
        set(ioctl, data, name);
    }

    // Snapshot state (api.rst: KVM_GET/SET_VCPU_EVENTS, _XSAVE, _XCRS, _DEBUGREGS). Each struct
    // is exchanged whole; the setters check the size so KVM never reads past the buffer.

    public byte[] getVcpuEvents() {
        return get(KVM_GET_VCPU_EVENTS, KvmStructs.VCPU_EVENTS_SIZE, "KVM_GET_VCPU_EVENTS");
    }

    public void setVcpuEvents(byte[] events) {
        VmFd.requireSize(events, KvmStructs.VCPU_EVENTS_SIZE, "kvm_vcpu_events");
        set(KVM_SET_VCPU_EVENTS, events, "KVM_SET_VCPU_EVENTS");
    }

    public byte[] getXsave() {
        return get(KVM_GET_XSAVE, KvmStructs.XSAVE_SIZE, "KVM_GET_XSAVE");
    }

    public void setXsave(byte[] xsave) {
        VmFd.requireSize(xsave, KvmStructs.XSAVE_SIZE, "kvm_xsave");
        set(KVM_SET_XSAVE, xsave, "KVM_SET_XSAVE");
    }

    public byte[] getXcrs() {
        return get(KVM_GET_XCRS, KvmStructs.XCRS_SIZE, "KVM_GET_XCRS");
    }

    public void setXcrs(byte[] xcrs) {
        VmFd.requireSize(xcrs, KvmStructs.XCRS_SIZE, "kvm_xcrs");
        set(KVM_SET_XCRS, xcrs, "KVM_SET_XCRS");
    }

    public byte[] getDebugRegs() {
        return get(KVM_GET_DEBUGREGS, KvmStructs.DEBUGREGS_SIZE, "KVM_GET_DEBUGREGS");
    }

    public void setDebugRegs(byte[] regs) {
        VmFd.requireSize(regs, KvmStructs.DEBUGREGS_SIZE, "kvm_debugregs");
        set(KVM_SET_DEBUGREGS, regs, "KVM_SET_DEBUGREGS");
    }

    /**
     * KVM_KVMCLOCK_CTRL: tells a paravirtual-clock guest it was stopped, so its soft-lockup
     * watchdog does not fire after a pause or restore. Returns false (and does nothing) when the
     * guest has not enabled kvmclock (EINVAL) - the normal case for guests without pvclock.
     */
    public boolean kvmclockCtrl() {
        return Native.ioctlOrErrno(fd, KVM_KVMCLOCK_CTRL, 0) >= 0;
    }

    /** KVM_GET_CPUID2: the CPUID this vCPU presents (empty if KVM_SET_CPUID2 was never called). */
    public List<CpuidEntry> getCpuid() {
        int n = 256;
        while (true) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment buf = a.allocate(8L + (long) n * KvmStructs.CPUID_ENTRY2_SIZE, 8);
                buf.set(ValueLayout.JAVA_INT, 0, n);
                int r = Native.ioctlOrErrno(fd, KVM_GET_CPUID2, buf);
                if (r == -7 /* E2BIG */ && n < 4096) {
                    n *= 2;
                    continue;
                }
                if (r < 0) {
                    throw new KvmException("KVM_GET_CPUID2", -r);
                }
                return Kvm.CpuidCodec.decode(buf);
            }
        }
    }

    public void setCpuid(List<CpuidEntry> entries) {
        try (Arena a = Arena.ofConfined()) {
            Native.ioctl(fd, KVM_SET_CPUID2, Kvm.CpuidCodec.encode(a, entries), "KVM_SET_CPUID2");
        }
    }

    /** KVM_SET_MSRS; throws if KVM accepted fewer than all entries, naming the first refused MSR. */
    public void setMsrs(List<MsrEntry> msrs) {
        int n = setMsrsPrefix(msrs);
        if (n != msrs.size()) {
            throw new IllegalStateException(String.format(
                    "KVM_SET_MSRS: KVM refused MSR 0x%x (set %d of %d)", msrs.get(n).index(), n, msrs.size()));
        }
    }

    /**
     * KVM_SET_MSRS that reports how many entries KVM set: it stops at the first MSR it refuses
     * (api.rst, KVM_SET_MSRS), so a result below {@code msrs.size()} names the refused entry.
     */
    public int setMsrsPrefix(List<MsrEntry> msrs) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(8L + (long) msrs.size() * KvmStructs.MSR_ENTRY_SIZE, 8);
            s.set(ValueLayout.JAVA_INT, 0, msrs.size());
            for (int i = 0; i < msrs.size(); i++) {
                long o = 8L + (long) i * KvmStructs.MSR_ENTRY_SIZE;
                s.set(ValueLayout.JAVA_INT, o, msrs.get(i).index());
                s.set(ValueLayout.JAVA_LONG, o + 8, msrs.get(i).data());
            }
            return Native.ioctl(fd, KVM_SET_MSRS, s, "KVM_SET_MSRS");
        }
    }

    /** KVM_GET_MSRS for the given indices; MSRs KVM cannot read are left out of the result. */
    public List<MsrEntry> getMsrs(int[] indices) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(8L + (long) indices.length * KvmStructs.MSR_ENTRY_SIZE, 8);
            s.set(ValueLayout.JAVA_INT, 0, indices.length);
            for (int i = 0; i < indices.length; i++) {
                s.set(ValueLayout.JAVA_INT, 8L + (long) i * KvmStructs.MSR_ENTRY_SIZE, indices[i]);
            }
            int n = Native.ioctl(fd, KVM_GET_MSRS, s, "KVM_GET_MSRS");
            MsrEntry[] out = new MsrEntry[n];
            for (int i = 0; i < n; i++) {
                long o = 8L + (long) i * KvmStructs.MSR_ENTRY_SIZE;
                out[i] = new MsrEntry(s.get(ValueLayout.JAVA_INT, o), s.get(ValueLayout.JAVA_LONG, o + 8));
            }
            return List.of(out);
        }
    }

    @Override
    public void close() {
        Native.munmap(runPage);
        Native.close(fd);
    }
}
