package io.jkvm.vmm;

import io.jkvm.arch.x86.Layout;
import io.jkvm.device.Bus;
import io.jkvm.device.IrqLine;
import io.jkvm.kvm.Kvm;
import io.jkvm.kvm.KvmIoctls;
import io.jkvm.kvm.VcpuFd;
import io.jkvm.kvm.VmFd;
import io.jkvm.memory.GuestMemory;
import io.jkvm.memory.GuestRam;
import io.jkvm.resources.VcpuPlacement;
import io.jkvm.vmm.diag.ExitDescription;
import io.jkvm.vmm.diag.IrqchipState;
import io.jkvm.vmm.diag.MachineReport;
import io.jkvm.vmm.diag.VcpuReport;
import io.jkvm.vmm.diag.VcpuState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;

/**
 * A KVM virtual machine: guest RAM, the in-kernel interrupt controllers and PIT, the port and
 * MMIO buses, and one platform thread per vCPU.
 *
 * <p>Lifecycle: {@link #create} → configure devices and boot state → {@link #start()} →
 * {@link #awaitExit} (or {@link #requestStop}). {@link #pause()}/{@link #resume()} quiesce
 * every vCPU outside KVM_RUN, as snapshots and migration need. No lock is ever held while a
 * vCPU is in KVM_RUN: coordination uses flags, a kick (immediate_exit + signal) and a monitor
 * that vCPU threads take only between runs.
 */
public final class Machine implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Machine.class);

    /** vCPU threads are "fc_vcpu 0", "fc_vcpu 1", ... (Firecracker's names; Kata's fc.go relies on them). */
    public static final String VCPU_THREAD_PREFIX = "fc_vcpu ";

    /** What the machine is made of. */
    public record Options(int cpus, long memoryBytes, boolean irqchip, io.jkvm.memory.RamBacking ramBacking) {
        public Options {
            if (cpus < 1) {
                throw new IllegalArgumentException("cpus must be at least 1");
            }
            if (memoryBytes <= 0) {
                throw new IllegalArgumentException("memory must be positive");
            }
        }
    }

    private final Options options;
    private final Kvm kvm;
    private final boolean ownsKvm;
    private final VmFd vm;
    private final GuestRam ram;
    private final Bus pio = new Bus("pio");
    private final Bus mmio = new Bus("mmio");
    private final List<VcpuFd> vcpuFds = new ArrayList<>();
    private final List<Thread> threads = new ArrayList<>();
    private final ExitHandler exits = new ExitHandler(pio, mmio);
    private final List<VcpuActivity> activities = new ArrayList<>();
    /** The report being gathered, if any; vCPU threads answer it between runs. */
    private volatile ReportRequest pendingReport;
    /** One report at a time; held only by the asking thread, never by a vCPU thread. */
    private final ReentrantLock reportSerial = new ReentrantLock();

    private final Object lock = new Object();
    private MachineExit exit;
    private boolean pauseRequested;
    private int parkedOrDone;
    private int running;
    private volatile boolean stopping;
    private boolean started;
    /** Set (under lock) before the vCPU and VM fds are closed: no report may touch them then. */
    private boolean closed;
    /** Migration auto-converge: the hook around each vCPU's KVM_RUN. */
    private final VcpuThrottle throttle = new VcpuThrottle(this::kickAll);
    private volatile DirtyTracker dirtyTracker;
    private volatile VcpuPlacement placement = VcpuPlacement.NONE;
    /** The next KVM memory slot {@link #allocateMemorySlot} hands out; guarded by this. */
    private int nextMemorySlot;

    /**
     * The machines of this process that are not closed yet: a stall watchdog (the test tier's, or
     * a person's debugger) can report every vCPU of the process without having been handed the
     * machines. Held strongly: an unclosed machine still owns its vCPU threads and memory anyway.
     */
    private static final Set<Machine> OPEN = ConcurrentHashMap.newKeySet();

    /** The machines of this process that are not closed yet, in no particular order. */
    public static List<Machine> openMachines() {
        return List.copyOf(OPEN);
    }

    private Machine(Options options, Kvm kvm, boolean ownsKvm) {
        this(options, kvm, ownsKvm, o -> GuestRam.allocate(o.memoryBytes(), o.ramBacking()));
    }

    private Machine(Options options, Kvm kvm, boolean ownsKvm, Function<Options, GuestRam> ramSource) {
        this.options = options;
        this.kvm = kvm;
        this.ownsKvm = ownsKvm;
        VmFd v = kvm.createVm();
        GuestRam r = null;
        try {
            // The TSS and identity-map pages must sit in the hole below 4 GiB, away from RAM (api.rst).
            v.setTssAddr(Layout.TSS_ADDR);
            if (kvm.checkExtension(KvmIoctls.KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) {
                v.setIdentityMapAddr(Layout.IDENTITY_MAP_ADDR);
            }
            if (options.irqchip()) {
                v.createIrqchip();
                v.createPit2();
            }
            r = ramSource.apply(options);
            if (r.memory().size() != options.memoryBytes()) {
                throw new IllegalArgumentException("guest RAM source gave " + r.memory().size()
                        + " bytes, the machine needs " + options.memoryBytes());
            }
            int slot = 0;
            for (GuestMemory.Region region : r.memory().regions()) {
                v.setUserMemoryRegion(slot++, 0, region.guestAddress(), region.host());
            }
            for (int i = 0; i < options.cpus(); i++) {
                vcpuFds.add(v.createVcpu(i));
                activities.add(new VcpuActivity());
            }
        } catch (RuntimeException e) {
            vcpuFds.forEach(VcpuFd::close);
            if (r != null) {
                r.close();
            }
            v.close();
            throw e;
        }
        this.vm = v;
        this.ram = r;
        this.nextMemorySlot = r.memory().regions().size();
        OPEN.add(this);
    }

    /** Creates a machine on an already open /dev/kvm handle (not closed with the machine). */
    public static Machine create(Kvm kvm, Options options) {
        return new Machine(options, kvm, false);
    }

    /** A machine on {@code kvm} (not owned) whose guest RAM comes from {@code ramSource}. */
    public static Machine create(Kvm kvm, Options options, Function<Options, GuestRam> ramSource) {
        return new Machine(options, kvm, false, ramSource);
    }

    /** Opens /dev/kvm and creates a machine that owns the handle. */
    public static Machine create(Options options) {
        Kvm kvm = Kvm.open();
        try {
            return new Machine(options, kvm, true);
        } catch (RuntimeException e) {
            kvm.close();
            throw e;
        }
    }

    /**
     * Creates a machine whose guest RAM comes from {@code ramSource} instead of fresh anonymous
     * memory (snapshot restore maps it from a memory file). The RAM is owned by the machine.
     */
    public static Machine create(Options options, Function<Options, GuestRam> ramSource) {
        Kvm kvm = Kvm.open();
        try {
            return new Machine(options, kvm, true, ramSource);
        } catch (RuntimeException e) {
            kvm.close();
            throw e;
        }
    }

    public Options options() {
        return options;
    }

    public Kvm kvm() {
        return kvm;
    }

    public VmFd vm() {
        return vm;
    }

    public GuestMemory memory() {
        return ram.memory();
    }

    /** Throws, saying why, if this machine's RAM cannot be filled on first touch (its backing). */
    public void requireLazyFillableRam() {
        ram.requireFillable();
    }

    /**
     * Post-copy migration's destination, before {@link #start}: the chunks of {@code missing} are
     * emptied and filled from {@code source} on first touch (ahead of it too), the rest of RAM is
     * kept. A chunk the source cannot deliver stops this machine with the reason, and the RAM
     * that never arrived fails on access ({@link io.jkvm.memory.LazyFill}).
     */
    public io.jkvm.memory.LazyFill fillRamLazily(int chunkSize, io.jkvm.memory.LazyFill.ChunkSource source,
            java.util.BitSet missing) {
        return ram.fillLazily(chunkSize, source, true, e -> requestStop(StopReason.ERROR, e.getMessage()), missing);
    }

    public Bus pio() {
        return pio;
    }

    public Bus mmio() {
        return mmio;
    }

    public List<VcpuFd> vcpus() {
        return List.copyOf(vcpuFds);
    }

    /**
     * A KVM memory slot number no guest RAM region and no earlier caller uses, for device memory
     * the guest reaches without exits (a display's VRAM). Slots 0..n-1 stay guest RAM's: dirty
     * logging and snapshots ({@link #setDirtyLogging}, {@link DirtyTracker}) only cover those.
     */
    public synchronized int allocateMemorySlot() {
        int max = kvm.checkExtension(KvmIoctls.KVM_CAP_NR_MEMSLOTS);
        if (max > 0 && nextMemorySlot >= max) {
            throw new IllegalStateException("KVM allows " + max + " memory slots per VM, all in use");
        }
        return nextMemorySlot++;
    }

    /** An interrupt line into the in-kernel PIC/IOAPIC input {@code gsi}. */
    public IrqLine irqLine(int gsi) {
        if (!options.irqchip()) {
            return high -> { };
        }
        return high -> vm.irqLine(gsi, high);
    }

    /** KVM_EXIT_IO exits that were port writes (OUT, OUTS), over all vCPUs; the rest of the IO exits read. */
    public long ioOutExits() {
        return exits.ioOutExits.sum();
    }

    /** KVM_EXIT_MMIO exits that were writes, over all vCPUs; the rest of the MMIO exits read. */
    public long mmioWriteExits() {
        return exits.mmioWriteExits.sum();
    }

    /** Exits seen so far for a KVM exit reason, over all vCPUs. */
    public long exitCount(int reason) {
        long n = 0;
        for (VcpuActivity a : activities) {
            n += a.exits(reason);
        }
        return n;
    }

    /**
     * Turns KVM's dirty page logging on or off for every memory slot by re-registering it with
     * or without KVM_MEM_LOG_DIRTY_PAGES (api.rst 4.35: only the flags change, so this is allowed
     * while vCPUs run). Slot {@code i} is {@code memory().regions().get(i)}.
     */
    public void setDirtyLogging(boolean on) {
        // Not the vCPU monitor: vCPU threads between runs must not wait for this ioctl.
        synchronized (ram) {
            int slot = 0;
            for (GuestMemory.Region region : ram.memory().regions()) {
                vm.setUserMemoryRegion(slot++, on ? KvmIoctls.KVM_MEM_LOG_DIRTY_PAGES : 0, region.guestAddress(),
                        region.host());
            }
        }
    }

    /**
     * Firecracker's {@code track_dirty_pages}: starts this machine's resident {@link DirtyTracker}
     * (KVM dirty log + pages the VMM writes), which Diff snapshots read. Idempotent; stays on
     * until the machine closes. Returns the tracker.
     */
    public synchronized DirtyTracker trackDirtyPages() {
        DirtyTracker t = dirtyTracker;
        if (t == null) {
            t = new DirtyTracker(this);
            dirtyTracker = t;
            t.start();
        }
        return t;
    }

    /** The resident tracker {@link #trackDirtyPages()} started, or null when pages are not tracked. */
    public DirtyTracker dirtyTracker() {
        return dirtyTracker;
    }

    /**
     * Slows the guest down for live migration's auto-converge: each vCPU thread sleeps
     * {@code percent}% of wall time between KVM_RUNs (0 = full speed, at most 99; see
     * {@link VcpuThrottle}).
     */
    public void setThrottle(int percent) {
        throttle.set(percent);
    }

    public int throttle() {
        return throttle.percent();
    }

    /**
     * Where and how the vCPU threads run (pinning, real-time class, locked RAM, halt polling),
     * applied by {@link #start}. Checked against this machine's vCPU count here.
     */
    public void place(VcpuPlacement p) {
        p.requireVcpus(vcpuFds.size());
        synchronized (lock) {
            if (started) {
                throw new IllegalStateException("the placement is set before the machine starts");
            }
        }
        placement = p;
    }

    /**
     * Starts the vCPU threads. With a {@link #place placement}, each vCPU thread takes its CPUs
     * and scheduling class before its first KVM_RUN and this returns once all have; a refusal
     * (a CPU outside this process's set, a real-time class without CAP_SYS_NICE, RAM that cannot
     * be locked) stops the machine and throws, naming the setting and the errno.
     *
     * @throws IllegalStateException if the placement cannot be applied
     */
    public void start() {
        MachinePlacement applied = new MachinePlacement(placement, vcpuFds.size());
        synchronized (lock) {
            if (started) {
                throw new IllegalStateException("machine already started");
            }
        }
        applied.beforeVcpus(vm, ram.memory()); // a refusal leaves the machine unstarted
        synchronized (lock) {
            if (started) {
                throw new IllegalStateException("machine already started");
            }
            started = true;
            running = vcpuFds.size();
        }
        for (VcpuFd fd : vcpuFds) {
            VcpuActivity activity = activities.get(fd.id());
            // Named as Firecracker names them ("fc_vcpu N", which the JVM also gives the OS thread,
            // /proc/PID/task/TID/comm): Kata finds vCPU threads by that name to move them into the
            // sandbox's cgroup, and per-thread tools (top -H, bpftrace) match it.
            Thread t = Thread.ofPlatform().name(VCPU_THREAD_PREFIX + fd.id()).daemon(true).unstarted(() -> {
                if (applied.onVcpuThread(fd.id())) {
                    // The thread's own seccomp filter (io.jkvm.isolation.VcpuSeccompFilter), when the
                    // process is confined: after the placement, before the guest first runs here.
                    String refused = io.jkvm.isolation.VcpuSeccompFilter.onVcpuThread();
                    if (refused == null) {
                        vcpuLoop(fd, activity);
                    } else {
                        requestStop(StopReason.ERROR, refused);
                        vcpuDone(activity);
                    }
                } else {
                    requestStop(StopReason.ERROR, applied.refusal()); // the refusal, not "all vCPUs halted"
                    vcpuDone(activity);
                }
            });
            activity.bind(t);
            threads.add(t);
        }
        threads.forEach(Thread::start);
        String refusal = applied.awaitVcpus();
        if (refusal != null) {
            requestStop(StopReason.ERROR, refusal);
            throw new IllegalStateException(refusal);
        }
        try {
            applied.afterVcpus(VCPU_THREAD_PREFIX);
        } catch (IllegalStateException e) {
            requestStop(StopReason.ERROR, e.getMessage());
            throw e;
        }
    }

    /** Records the first stop reason and makes every vCPU leave KVM_RUN. */
    public void requestStop(StopReason reason, String detail) {
        synchronized (lock) {
            if (exit == null) {
                exit = new MachineExit(reason, detail);
                LOG.debug("machine stopping: {} {}", reason, detail);
            }
            stopping = true;
            lock.notifyAll();
        }
        throttle.stop();
        kickAll();
    }

    /**
     * Under the lock {@link #close} marks the machine closed with before it unmaps the vCPUs'
     * kvm_run pages: a stop requested from another thread just as the vCPUs end (and the VMM
     * closes the machine) must not write immediate_exit into an unmapped page.
     */
    private void kickAll() {
        synchronized (lock) {
            if (closed) {
                return;
            }
            for (VcpuFd fd : vcpuFds) {
                fd.kick();
            }
        }
    }

    /** Waits for the machine to stop; returns null on timeout. */
    public MachineExit awaitExit(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (lock) {
            while (exit == null || running > 0) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return null;
                }
                lock.wait(Math.max(1, left / 1_000_000));
            }
            return exit;
        }
    }

    public MachineExit awaitExit() throws InterruptedException {
        synchronized (lock) {
            while (exit == null || running > 0) {
                lock.wait();
            }
            return exit;
        }
    }

    /** Quiesces every vCPU outside KVM_RUN; returns when all are parked (or finished). */
    public void pause() throws InterruptedException {
        synchronized (lock) {
            pauseRequested = true;
        }
        kickAll();
        synchronized (lock) {
            while (parkedOrDone < vcpuFds.size() && started && !stopping) {
                lock.wait();
            }
        }
    }

    public void resume() {
        synchronized (lock) {
            pauseRequested = false;
            lock.notifyAll();
        }
    }

    public boolean isPaused() {
        synchronized (lock) {
            return pauseRequested && parkedOrDone == vcpuFds.size();
        }
    }

    /**
     * True when no vCPU is or can be in KVM_RUN: not started yet, paused, or every vCPU thread has
     * finished. vCPU and VM state read now is consistent (snapshots need this).
     */
    public boolean isQuiescent() {
        synchronized (lock) {
            return !started || running == 0 || (pauseRequested && parkedOrDone == vcpuFds.size());
        }
    }

    private void vcpuLoop(VcpuFd fd, VcpuActivity activity) {
        try {
            fd.bindToCurrentThread();
            Vcpu vcpu = new Vcpu(this, fd, exits);
            VcpuThrottle.Meter throttled = throttle.meter(activity);
            while (true) {
                // Clear before checking the flags: a kick that lands after the check leaves its
                // signal pending, so the next KVM_RUN returns at once.
                fd.clearImmediateExit();
                if (stopping) {
                    break;
                }
                answerReport(fd);
                if (pauseRequestedNow()) {
                    // Finish the last exit's instruction first, so the parked vCPU's state is
                    // complete for a snapshot (see VcpuFd.completePendingOperations).
                    fd.completePendingOperations();
                    activity.enter(VcpuActivity.Phase.PARKED);
                    park(fd);
                    continue;
                }
                throttled.beforeRun();
                activity.enter(VcpuActivity.Phase.IN_KVM_RUN);
                int reason = fd.run();
                activity.enter(VcpuActivity.Phase.HANDLING_EXIT);
                activity.countExit(reason);
                throttled.afterRun();
                if (!vcpu.handleExit(reason)) {
                    break;
                }
            }
        } catch (Throwable t) {
            LOG.error("vcpu {} failed", fd.id(), t);
            requestStop(StopReason.ERROR, "vCPU " + fd.id() + ": " + t.getMessage());
        } finally {
            fd.unbindFromCurrentThread();
            vcpuDone(activity);
        }
    }

    /** A vCPU thread ends (after its loop, or without running when the placement was refused). */
    private void vcpuDone(VcpuActivity activity) {
        synchronized (lock) {
            activity.enter(VcpuActivity.Phase.DONE);
            running--;
            parkedOrDone++;
            if (running == 0 && exit == null) {
                exit = new MachineExit(StopReason.HALTED, "all vCPUs halted");
            }
            lock.notifyAll();
        }
    }

    private boolean pauseRequestedNow() {
        synchronized (lock) {
            return pauseRequested;
        }
    }

    private void park(VcpuFd fd) {
        synchronized (lock) {
            parkedOrDone++;
            lock.notifyAll();
            try {
                while (pauseRequested && !stopping) {
                    // A parked vCPU is out of KVM_RUN: reading its state is short and bounded.
                    answerReport(fd);
                    lock.wait();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                parkedOrDone--;
            }
        }
    }

    /** On a vCPU thread out of KVM_RUN: answers the pending report with this vCPU's state. */
    private void answerReport(VcpuFd fd) {
        ReportRequest r = pendingReport;
        if (r != null && r.wants(fd.id())) {
            r.answer(fd.id(), VcpuState.capture(fd));
        }
    }

    /**
     * What every vCPU is doing and its KVM state, plus the interrupt controllers and clocks: the
     * data for a VM that seems stuck. Each running vCPU is kicked out of KVM_RUN, reads its own
     * state on its thread (state ioctls wait for a running KVM_RUN) and goes back in; a parked one
     * answers where it waits; a vCPU not started or finished is read from here. A vCPU that does
     * not answer within {@code answerTimeout} is stuck outside KVM_RUN (in jkvm's exit handling),
     * and its thread's Java stack is reported instead. The guest loses a few microseconds per vCPU.
     */
    public MachineReport report(Duration answerTimeout) throws InterruptedException {
        reportSerial.lockInterruptibly();
        try {
            int n = vcpuFds.size();
            ReportRequest request = new ReportRequest(n);
            String[] phaseAtRequest = new String[n];
            String[] notes = new String[n];
            String machineState;
            synchronized (lock) {
                if (closed) {
                    return MachineReport.none("closed");
                }
                machineState = !started ? "not started" : running == 0 ? "ended"
                        : pauseRequested && parkedOrDone == n ? "paused" : stopping ? "stopping" : "running";
                for (int i = 0; i < n; i++) {
                    VcpuActivity.Phase p = activities.get(i).phase();
                    phaseAtRequest[i] = p.label;
                    if (!started || p == VcpuActivity.Phase.DONE) {
                        // No thread will run this vCPU again (or yet): read it from here.
                        request.answer(i, VcpuState.capture(vcpuFds.get(i)));
                        notes[i] = "read by the reporting thread (vCPU thread " + (started ? "ended)" : "not started)");
                    }
                }
                pendingReport = request;
                lock.notifyAll(); // parked vCPUs answer where they wait
            }
            kickAll();
            request.await(answerTimeout);
            pendingReport = null;
            List<List<String>> stacks = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                Thread t = activities.get(i).thread();
                stacks.add(request.answer(i) == null && t != null
                        ? Arrays.stream(t.getStackTrace()).map(StackTraceElement::toString).toList() : null);
            }
            List<VcpuReport> vcpus = new ArrayList<>();
            List<String> errors = new ArrayList<>();
            IrqchipState chips = null;
            synchronized (lock) {
                if (closed) {
                    return MachineReport.none("closed");
                }
                for (int i = 0; i < n; i++) {
                    VcpuActivity a = activities.get(i);
                    VcpuState s = request.answer(i);
                    String note = notes[i] != null ? notes[i]
                            : s != null ? "read on its thread " + request.answerMillis(i) + " ms after the request"
                            : "did not answer within " + answerTimeout.toMillis() + " ms: its thread is "
                                    + a.phase().label + " (stuck outside KVM_RUN, see its stack)";
                    // The exit being handled is described from the run page (mapped until close,
                    // which cannot pass this lock); in KVM_RUN the page says nothing reliable.
                    int last = a.lastExit();
                    String lastExit = last < 0 ? "none yet"
                            : a.phase() == VcpuActivity.Phase.HANDLING_EXIT ? ExitDescription.of(vcpuFds.get(i).runState())
                            : KvmIoctls.exitName(last);
                    vcpus.add(new VcpuReport(i, phaseAtRequest[i], lastExit, a.totalExits(), a.exitsByName(), s, note,
                            stacks.get(i)));
                }
                if (options.irqchip()) {
                    chips = irqchipState(errors);
                }
            }
            return new MachineReport(Instant.now(), machineState, vcpus, chips, errors);
        } finally {
            pendingReport = null;
            reportSerial.unlock();
        }
    }

    /** VM-wide interrupt controller, PIT and clock state; parts KVM refuses are null and listed in {@code errors}. */
    private IrqchipState irqchipState(List<String> errors) {
        IrqchipState.Pic master = null;
        IrqchipState.Pic slave = null;
        IrqchipState.Ioapic ioapic = null;
        IrqchipState.Pit pit = null;
        IrqchipState.Kvmclock clock = null;
        try {
            master = IrqchipState.Pic.decode(vm.getIrqchip(KvmIoctls.KVM_IRQCHIP_PIC_MASTER));
            slave = IrqchipState.Pic.decode(vm.getIrqchip(KvmIoctls.KVM_IRQCHIP_PIC_SLAVE));
            ioapic = IrqchipState.Ioapic.decode(vm.getIrqchip(KvmIoctls.KVM_IRQCHIP_IOAPIC));
        } catch (RuntimeException e) {
            errors.add(e.getMessage());
        }
        try {
            pit = IrqchipState.Pit.decode(vm.getPit2());
        } catch (RuntimeException e) {
            errors.add(e.getMessage());
        }
        try {
            clock = IrqchipState.Kvmclock.decode(vm.getClock());
        } catch (RuntimeException e) {
            errors.add(e.getMessage());
        }
        return new IrqchipState(master, slave, ioapic, pit, clock);
    }

    @Override
    public void close() {
        OPEN.remove(this);
        requestStop(StopReason.STOPPED, "closed");
        for (Thread t : threads) {
            try {
                t.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        synchronized (lock) {
            closed = true;
        }
        for (VcpuFd fd : vcpuFds) {
            fd.close();
        }
        DirtyTracker t = dirtyTracker;
        if (t != null) {
            t.close();
        }
        ram.close();
        vm.close();
        if (ownsKvm) {
            kvm.close();
        }
    }
}
