package io.jkvm.vmm;

import io.jkvm.arch.x86.Layout;
import io.jkvm.arch.x86.X86VcpuSetup;
import io.jkvm.config.DeviceConfig;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VmConfig;
import io.jkvm.device.legacy.BufferedTransmitter;
import io.jkvm.device.legacy.I8042;
import io.jkvm.device.legacy.Serial16550;
import io.jkvm.device.virtio.IoStats;
import io.jkvm.device.virtio.VirtioBalloon;
import io.jkvm.device.virtio.VirtioBlock;
import io.jkvm.device.virtio.VirtioTransportDevice;
import io.jkvm.kvm.CpuidEntry;
import io.jkvm.kvm.Kvm;
import io.jkvm.kvm.KvmIoctls;
import io.jkvm.net.NetConfig;
import io.jkvm.resources.NanoClock;
import io.jkvm.resources.RateLimitConfig;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.Protection;
import io.jkvm.snapshot.SnapshotException;
import io.jkvm.snapshot.SnapshotKey;
import io.jkvm.snapshot.Snapshots;
import io.jkvm.snapshot.VmConfigState;
import io.jkvm.storage.DiskConfig;
import io.jkvm.vmm.diag.MachineReport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A Linux guest, machine after machine: {@link MachineBuilder} builds each machine with its
 * devices ({@link DeviceManager}) by one path for a boot, a snapshot restore and an incoming
 * migration; this class runs it, starts the next one when the guest reboots and asked to, and
 * keeps what outlives one machine (the UART, the display, counters, rate limits, settings).
 * Reboots either end the run or start the machine again from scratch, per {@link OnReboot}.
 *
 * <p>Control from other threads (the API, signals) goes through {@link #stop}, {@link #pause},
 * {@link #resume} and {@link #sendCtrlAltDel}; none of them runs on or blocks a vCPU thread
 * beyond the machine's own pause handshake. {@link #metrics()} reads counters that add up over
 * every boot of this VM.
 */
public final class LinuxVm {
    private static final Logger LOG = LoggerFactory.getLogger(LinuxVm.class);

    /** Where the serial console goes and comes from. */
    public record Console(InputStream in, OutputStream out, boolean interactive) {}

    /** Replaced by a rate-limit update or a drive's new image, under {@link #limitsLock}. */
    private volatile VmConfig config;
    private final Object limitsLock = new Object();
    private final DeviceThrottles throttles;
    private final Console console;
    private volatile Machine current;
    /** The current machine's devices (those of the last machine once it ended; null before the first). */
    private volatile DeviceManager devices;
    private volatile boolean quit;
    private final DeviceCounters counters = new DeviceCounters();
    /** Exits of machines that already ended (earlier boots), by reason; guarded by this. */
    private final long[] pastExits = new long[64];
    /** Port-write and MMIO-write exits of earlier boots; guarded by this. */
    private long pastIoOutExits;
    private long pastMmioWriteExits;
    /** What each virtio disk (by device id) and NIC (by "tap/NAME") moved, over every boot (the devices are rebuilt per boot). */
    private final Map<String, IoStats> ioStats = new java.util.concurrent.ConcurrentHashMap<>();
    private final CompletableFuture<Void> started = new CompletableFuture<>();
    private volatile long startedNanos;
    private volatile int boots;
    private final CompletableFuture<MachineExit> exited = new CompletableFuture<>();
    /** A restored machine and the device states to apply to it, consumed by the first boot. */
    private Snapshots.Restored pendingRestore;
    private volatile boolean startPaused;
    /** A restored VM started paused announces its NICs at its first resume. */
    private volatile boolean announcePending;
    private volatile boolean trackDirtyPages;
    /** What backs guest RAM of the machines this VM boots (machine-config huge_pages). */
    private volatile io.jkvm.memory.RamBacking ramBacking = io.jkvm.memory.RamBacking.PAGES;
    private volatile io.jkvm.resources.VcpuPlacement placement = io.jkvm.resources.VcpuPlacement.NONE;
    private volatile boolean ksm;
    /** The display's VRAM and framebuffer (null without --display): they outlive the machines, so display clients survive guest reboots. */
    private final io.jkvm.device.display.Vram vram;
    private final io.jkvm.device.display.VramFramebuffer framebuffer;
    /** Keyboard and pointer input for display clients: the current machine's virtio-input devices. */
    private final io.jkvm.display.SwitchableInputSink input = new io.jkvm.display.SwitchableInputSink();
    /** The VNC server ({@link #serveVnc}), or null. */
    private volatile io.jkvm.display.vnc.VncServer vnc;

    /** The metadata service's binding: the interfaces on its TAP devices answer for it (null: none). */
    private volatile io.jkvm.mmds.MmdsBinding mmds;

    /** Binds the metadata service to the interfaces {@code binding} names (null: none); before the VM runs. */
    public void mmds(io.jkvm.mmds.MmdsBinding binding) {
        mmds = binding;
    }

    /** Run once, on the thread that starts the vCPUs, before they first run the guest (see {@link #beforeFirstStart}). */
    private volatile java.util.function.Consumer<VmConfig> beforeFirstStart;

    /** @throws IllegalArgumentException if the devices do not fit the configured transport */
    public LinuxVm(VmConfig config, Console console) {
        if (config.virtioTransport() == io.jkvm.config.VirtioTransport.MMIO) {
            io.jkvm.arch.x86.VirtioMmioSlots.requireFits(config.devices().count());
        }
        this.config = config;
        this.throttles = new DeviceThrottles(config.devices(), DeviceManager.virtioIds(config.devices()), NanoClock.SYSTEM);
        this.console = console;
        io.jkvm.config.DisplayConfig dc = config.devices().display();
        // Reserved lazily (MAP_NORESERVE): a display costs the pages the guest draws on.
        this.vram = dc == null ? null : io.jkvm.device.display.Vram.allocate(dc.vramBytes());
        this.framebuffer = vram == null ? null : new io.jkvm.device.display.VramFramebuffer(vram);
    }

    /**
     * The VM's screen ({@code --display}), for VNC servers and screenshots: the same object for
     * the VM's whole life, across guest reboots (its mode is OFF between machines and before the
     * guest enables a mode). Empty without a display device.
     */
    public java.util.Optional<io.jkvm.display.Framebuffer> framebuffer() {
        return java.util.Optional.ofNullable(framebuffer);
    }

    /** Where display clients' keys and pointer go: the virtio-input keyboard and tablet a display comes with. */
    public io.jkvm.display.InputSink inputSink() {
        return input;
    }

    /**
     * Serves the display over RFB/VNC ({@code --vnc}) until the VM ends: bound now, so a bad
     * path or a port in use is an error before the guest starts.
     *
     * @throws IllegalStateException if the VM has no display
     */
    public void serveVnc(io.jkvm.config.VncConfig c) throws IOException {
        if (framebuffer == null) {
            throw new IllegalStateException("--vnc needs a display (--display)");
        }
        vnc = c.unixSocket() != null
                ? io.jkvm.display.vnc.VncServer.unix(c.unixSocket(), framebuffer, input)
                : io.jkvm.display.vnc.VncServer.tcp(c.host(), c.port(), c.password(), framebuffer, input);
        LOG.info("display served over VNC at {}", c);
    }

    /**
     * A VM that continues from a snapshot: {@code machine} comes from {@link Snapshots#restore}
     * (KVM state applied, vCPUs not started) and {@code devices} are its device states. Running
     * it ({@link #run} / {@link #start}) re-creates the device models from {@code config},
     * re-opening disks and TAP devices, applies the states (which re-establishes BAR mappings,
     * ioeventfds, GSI routes and irqfds) and resumes the vCPUs instead of booting. A reboot with
     * on-reboot=restart boots {@code config} from scratch as usual.
     *
     * @throws SnapshotException if the snapshot's recorded configuration (device state
     *     {@code vm_config}) or its machine does not fit {@code config}
     */
    public static LinuxVm fromRestored(VmConfig config, Console console, Machine machine, List<DeviceState> devices) {
        String why = machine.options().cpus() != config.cpus() || machine.options().memoryBytes() != config.memoryBytes()
                ? "the restored machine has " + machine.options().cpus() + " vCPUs and " + machine.options().memoryBytes()
                        + " bytes, the configuration " + config.cpus() + " and " + config.memoryBytes()
                : null;
        if (why == null) {
            DeviceState saved = devices.stream().filter(d -> d.name().equals(VmConfigState.NAME)).findFirst()
                    .orElseThrow(() -> new SnapshotException("the snapshot has no " + VmConfigState.NAME + " record"));
            why = VmConfigState.incompatibility(VmConfigState.decode(saved), config);
        }
        if (why != null) {
            throw new SnapshotException("cannot restore onto this configuration: " + why);
        }
        LinuxVm vm = new LinuxVm(config, console);
        vm.pendingRestore = new Snapshots.Restored(machine, List.copyOf(devices), Duration.ZERO, Duration.ZERO, Duration.ZERO);
        return vm;
    }

    /**
     * Runs the VM ({@link #run}) on its own platform thread and returns once the vCPUs run
     * (booted, or resumed from a snapshot). Throws what made the start fail.
     */
    public void start() throws InterruptedException, ExecutionException, TimeoutException {
        Thread.ofPlatform().name("vmm-main").start(() -> {
            try {
                exited.complete(run());
            } catch (Throwable t) {
                exited.complete(new MachineExit(StopReason.ERROR, String.valueOf(t.getMessage())));
            }
        });
        awaitStarted(Duration.ofSeconds(60));
    }

    /**
     * With true, a VM restored from a snapshot starts with its vCPUs paused (Firecracker's
     * snapshot/load with resume_vm false); {@link #resume} runs them. Call before running.
     */
    public void startPaused(boolean paused) {
        startPaused = paused;
    }

    /**
     * Firecracker's track_dirty_pages: every machine of this VM logs dirty pages from before its
     * vCPUs first run ({@link Machine#trackDirtyPages()}), so Diff snapshots can be taken. A
     * restored machine's base is the snapshot it came from; a booted one needs a Full first.
     * Call before running.
     */
    public void trackDirtyPages(boolean on) {
        trackDirtyPages = on;
    }

    /** After {@link #start}: waits for the VM to end. */
    public MachineExit awaitExit() throws InterruptedException, ExecutionException {
        return exited.get();
    }

    /** The current machine (running or paused), or null between boots and after the end. */
    public Machine machine() {
        return current;
    }

    public VmConfig config() {
        return config;
    }

    /** Boots and runs until the guest powers off, crashes, or reboots with on-reboot=exit. */
    public MachineExit run() throws IOException, InterruptedException {
        try {
            return runMachines();
        } catch (IOException | InterruptedException | RuntimeException | Error e) {
            started.completeExceptionally(e);
            throw e;
        } finally {
            started.completeExceptionally(new IllegalStateException("the VM stopped before it started"));
            io.jkvm.display.vnc.VncServer v = vnc;
            if (v != null) {
                v.close();
            }
            if (framebuffer != null) {
                // Every machine is closed by now: no guest maps the VRAM any more.
                framebuffer.close();
                vram.close();
            }
        }
    }

    /** How long a VM that ended waits for its console output to be written (a stuck console must not keep it). */
    static final Duration CONSOLE_DRAIN = Duration.ofSeconds(10);

    private MachineExit runMachines() throws IOException, InterruptedException {
        // The console is written by a thread of its own, never by the vCPU thread that writes THR.
        BufferedTransmitter tx = new BufferedTransmitter(console.out(), BufferedTransmitter.DEFAULT_CAPACITY, "serial-tx");
        Duration silence = io.jkvm.vmm.diag.SilentConsoleReporter.configured();
        Thread reporter = silence == null ? null
                : io.jkvm.vmm.diag.SilentConsoleReporter.start(silence, tx::lastWrittenNanos, this::report, tx::describe);
        try {
            return runMachines(tx);
        } finally {
            if (reporter != null) {
                reporter.interrupt();
            }
            if (!tx.drain(CONSOLE_DRAIN)) {
                LOG.warn("serial console output still pending after {} s: not all of it was written", CONSOLE_DRAIN.toSeconds());
            }
            tx.close();
        }
    }

    private MachineExit runMachines(BufferedTransmitter tx) throws IOException, InterruptedException {
        // One UART for the whole run: console input keeps flowing across guest reboots. Its
        // interrupt line follows whichever machine is current.
        io.jkvm.device.IrqLine serialIrq = high -> {
            Machine m = current;
            if (m != null) {
                m.vm().irqLine(Layout.COM1_IRQ, high);
            }
        };
        Snapshots.Restored first = pendingRestore;
        SavedDevices firstSaved;
        Serial16550 uart;
        try {
            firstSaved = first == null ? null : new SavedDevices(first.devices(),
                    Set.of(VmConfigState.NAME, io.jkvm.mmds.MmdsState.NAME));
            uart = firstSaved == null ? new Serial16550(serialIrq, tx)
                    : firstSaved.restore(DeviceManager.SERIAL, Serial16550.State.class, s -> Serial16550.restore(serialIrq, tx, s));
        } catch (RuntimeException e) {
            first.machine().close();
            throw e;
        }
        ConsoleInput consoleInput = new ConsoleInput(console.in(), uart, console.interactive(), () -> {
            LOG.info("console escape: stopping the VM");
            stop();
        });
        boolean inputStarted = false;
        DeviceManager.Shared shared = new DeviceManager.Shared(uart, console, counters, throttles, ioStats, input, vram, framebuffer);
        try (Kvm kvm = openKvm()) {
            List<CpuidEntry> supported = kvm.supportedCpuid();
            MachineBuilder builder = new MachineBuilder(kvm, shared);
            while (true) {
                Snapshots.Restored restore = pendingRestore;
                pendingRestore = null;
                SavedDevices saved = restore != null ? firstSaved : null;
                // Confinement before the devices exist: their I/O threads, which parse what the guest
                // writes, are started by this thread and so inherit a per-thread Landlock domain
                // (ABI < 8). Everything attaching opens, a guest reboot opens again anyway.
                java.util.function.Consumer<VmConfig> hook = beforeFirstStart;
                beforeFirstStart = null;
                MachineBuilder.Settings settings = new MachineBuilder.Settings(ramBacking, ksm, trackDirtyPages,
                        new X86VcpuSetup.CpuModel(supported, config.nested(), config.cpuTemplate()));
                try (MachineBuilder.Built built = builder.build(config, settings, mmds, restore, saved, hook)) {
                    Machine m = built.machine();
                    devices = built.devices();
                    current = m;
                    if (quit) {
                        return new MachineExit(StopReason.STOPPED, "stop requested");
                    }
                    if (restore != null && startPaused) {
                        m.pause(); // not started yet: returns at once, and each vCPU parks before its first KVM_RUN
                        announcePending = true; // when resume() runs it
                    }
                    m.place(placement);
                    try {
                        m.start();
                    } catch (IllegalStateException e) {
                        // The host refused the placement (a CPU, a real-time class, locked RAM): a setting, not a crash.
                        throw new IOException(e.getMessage(), e);
                    }
                    boots++;
                    if (startedNanos == 0) {
                        startedNanos = System.nanoTime();
                    }
                    if (restore != null && !startPaused) {
                        built.devices().announceNets();
                    }
                    started.complete(null);
                    // With a virtio console, stdin belongs to hvc0; the UART only shows early output.
                    if (!inputStarted && !config.devices().virtioConsole()) {
                        inputStarted = true;
                        consoleInput.start();
                    }
                    MachineExit exit = m.awaitExit();
                    current = null;
                    synchronized (this) {
                        for (int i = 0; i < pastExits.length; i++) {
                            pastExits[i] += m.exitCount(i);
                        }
                        pastIoOutExits += m.ioOutExits();
                        pastMmioWriteExits += m.mmioWriteExits();
                    }
                    if (exit.reason() == StopReason.REBOOT && config.onReboot() == OnReboot.RESTART && !quit) {
                        LOG.info("guest rebooted: restarting the machine");
                        continue;
                    }
                    return exit;
                } finally {
                    current = null;
                }
            }
        }
    }

    private static Kvm openKvm() throws IOException {
        try {
            return Kvm.open();
        } catch (io.jkvm.kvm.NativeException | IllegalStateException e) {
            throw new IOException("cannot use KVM: " + e.getMessage() + " (`jkvm host-check` says why)", e);
        }
    }

    /**
     * Releases (false) or re-takes (true) the locks of this VM's disk images, which stay open:
     * live migration hands the images to the destination VMM once they are flushed
     * ({@link #captureDeviceStates}) and takes them back if the migration fails.
     */
    public void setDiskLocks(boolean locked) throws IOException {
        DeviceManager d = devices;
        if (d != null) {
            d.setDiskLocks(locked);
        }
    }

    /**
     * Puts the image at {@code path} behind the running drive {@code driveId} (a media change, as
     * Firecracker's {@code PATCH /drives}): opened and locked first (a refusal leaves the drive as
     * it was), swapped while the drive's I/O is stopped, the old image flushed and closed after.
     * Snapshots, migration and a restart from here on use the new path.
     */
    public void replaceDisk(String driveId, java.nio.file.Path path) throws IOException {
        synchronized (limitsLock) {
            replaceDiskLocked(driveId, path);
        }
    }

    private void replaceDiskLocked(String driveId, java.nio.file.Path path) throws IOException {
        DeviceConfig d = config.devices();
        int index = diskIndex(d, driveId);
        VirtioTransportDevice fn = blockFunction(d, index, driveId);
        VirtioBlock block = (VirtioBlock) fn.device();
        if (block.logsWrites()) {
            throw new IllegalArgumentException("a live migration is copying drive '" + driveId
                    + "' to its destination: it cannot be replaced until the migration ends");
        }
        DiskConfig now = d.disks().get(index);
        io.jkvm.storage.DiskImage next = io.jkvm.storage.DiskImages.open(now.withPath(path));
        io.jkvm.storage.DiskImage old;
        boolean held = fn.ioSuspended(); // a captured (snapshot) VM's I/O stays stopped until its resume
        try {
            fn.suspendIo(); // completes the request in progress and flushes the old image
            old = block.replaceImage(next);
        } catch (IOException | RuntimeException e) {
            next.close();
            throw e;
        } finally {
            if (!held) {
                fn.resumeIo();
            }
        }
        old.close();
        setDisk(index, now.withPath(path));
    }

    /**
     * Starts logging the writes of the disks whose ids (virtio-blk serials) are given, all or
     * none: an unknown or read-only disk is an IllegalArgumentException and nothing starts. Under
     * the lock a drive replacement takes, so the images returned are the ones being logged.
     */
    public List<io.jkvm.storage.LoggedDisk> startWriteLogs(List<String> diskIds) {
        synchronized (limitsLock) {
            DeviceConfig d = config.devices();
            List<io.jkvm.storage.LoggedDisk> disks = new ArrayList<>();
            List<VirtioBlock> blocks = new ArrayList<>();
            for (String id : diskIds) {
                int index = diskIndex(d, id);
                VirtioBlock block = (VirtioBlock) blockFunction(d, index, id).device();
                io.jkvm.storage.DiskImage image = block.image();
                if (image.readOnly()) {
                    throw new IllegalArgumentException("drive '" + id + "' is read-only");
                }
                disks.add(new io.jkvm.storage.LoggedDisk(index, id, image,
                        new io.jkvm.storage.DirtyChunks(io.jkvm.storage.LoggedDisk.guestSize(image))));
                blocks.add(block);
            }
            for (int i = 0; i < blocks.size(); i++) {
                blocks.get(i).logWrites(disks.get(i).writes());
            }
            return disks;
        }
    }

    /** Stops every disk's write log (a migration ended, one way or another); harmless when none runs. */
    public void stopWriteLogs() {
        synchronized (limitsLock) {
            DeviceManager d = devices;
            if (d != null) {
                d.stopWriteLogs();
            }
        }
    }

    /** The running virtio-blk function of disk {@code index} of {@code d} ({@code id} names it in the error). */
    private VirtioTransportDevice blockFunction(DeviceConfig d, int index, String id) {
        DeviceManager running = devices;
        VirtioTransportDevice fn = running == null ? null : running.function(DeviceManager.virtioIds(d).get(index));
        if (fn == null || !(fn.device() instanceof VirtioBlock)) {
            throw new IllegalArgumentException("no running drive '" + id + "'");
        }
        return fn;
    }

    /** Where the disk whose id (virtio-blk serial) is {@code diskId} is in {@code d}'s disks. */
    private static int diskIndex(DeviceConfig d, String diskId) {
        for (int i = 0; i < d.disks().size(); i++) {
            if (diskId.equals(d.disks().get(i).id())) {
                return i;
            }
        }
        throw new IllegalArgumentException("no disk with id " + diskId);
    }

    /** The configuration with disk {@code i} replaced by {@code disk}; under {@link #limitsLock}. */
    private void setDisk(int i, DiskConfig disk) {
        DeviceConfig d = config.devices();
        List<DiskConfig> disks = new ArrayList<>(d.disks());
        disks.set(i, disk);
        config = config.withDevices(d.withDisks(disks));
    }

    /**
     * Where and how the vCPU threads of machines booted from now on run (pinning, real-time
     * class, locked RAM, halt polling; set before {@link #start}). A placement the host refuses
     * fails the boot naming the setting.
     */
    public void placement(io.jkvm.resources.VcpuPlacement p) {
        p.requireVcpus(config.cpus());
        placement = p;
    }

    /** Marks the RAM of machines booted from now on mergeable by the host's KSM ({@link io.jkvm.memory.Ksm}). */
    public void ksm(boolean on) {
        if (on) {
            io.jkvm.memory.Ksm.requireMergeable(ramBacking);
        }
        ksm = on;
    }

    /**
     * {@code hook} runs once, when the first machine exists and before its devices attach, on the
     * thread that then attaches them and starts the vCPUs: where the VMM confines itself
     * (io.jkvm.isolation), so the device I/O threads and vCPU threads started afterwards inherit a
     * per-thread Landlock domain. A hook that throws fails the start.
     */
    public void beforeFirstStart(java.util.function.Consumer<VmConfig> hook) {
        beforeFirstStart = hook;
    }

    /** Backs the RAM of machines booted from now on with {@code backing} (set before {@link #start}). */
    public void ramBacking(io.jkvm.memory.RamBacking backing) {
        ramBacking = java.util.Objects.requireNonNull(backing, "backing");
    }

    /** Stops the VM from another thread (signals, API). */
    public void stop() {
        quit = true;
        Machine m = current;
        if (m != null) {
            m.requestStop(StopReason.STOPPED, "stop requested");
        }
    }

    /**
     * Waits until the first machine has started its vCPUs. Throws what made the boot fail (for
     * instance a {@link io.jkvm.arch.x86.boot.BootException}), or a TimeoutException.
     */
    public void awaitStarted(Duration timeout) throws InterruptedException, TimeoutException, ExecutionException {
        started.get(timeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    /** True while a machine is running or paused. */
    public boolean isRunning() {
        return current != null;
    }

    /** Parks every vCPU outside KVM_RUN; returns when they are parked. */
    public void pause() throws InterruptedException {
        Machine m = requireMachine();
        m.pause();
    }

    /** Resumes the vCPUs, and device I/O if {@link #captureDeviceStates} stopped it. */
    public void resume() {
        Machine m = requireMachine();
        DeviceManager d = devices;
        d.resumeIo();
        m.resume();
        if (announcePending) {
            announcePending = false;
            d.announceNets();
        }
    }

    /**
     * The state of every userspace device, for a snapshot or migration. Requires the VM paused
     * ({@link #pause}). Stops virtio I/O first: the request being processed finishes (into the
     * used ring), nothing else starts, and disks are fsync'd, so no request is in flight in the
     * result. I/O stays stopped until {@link #resume}. The first state, {@code vm_config},
     * records the configuration that {@link #fromRestored} checks and re-opens devices from.
     */
    public List<DeviceState> captureDeviceStates() {
        Machine m = requireMachine();
        if (!m.isQuiescent()) {
            throw new IllegalStateException("pause the VM before capturing its device state");
        }
        if (config.devices().display() != null) {
            throw new IllegalStateException(DeviceManager.DISPLAY_ID + ": snapshots and migration of a VM with a display are not"
                    + " supported (its VRAM is not saved); start it without --display");
        }
        List<DeviceState> deviceStates = devices.capture();
        List<DeviceState> out = new ArrayList<>();
        out.add(VmConfigState.capture(config));
        io.jkvm.mmds.MmdsBinding binding = mmds;
        if (binding != null) {
            out.add(DeviceStateFormat.CODECS.encode(io.jkvm.mmds.MmdsState.NAME, binding.state()));
        }
        out.addAll(deviceStates);
        return out;
    }

    /**
     * Firecracker's snapshot/create: pauses the VM if it runs, saves KVM state, memory and
     * device states, and leaves it paused. With {@code diff}, only the pages dirtied since the
     * previous snapshot ({@link Snapshots#saveDiff}; needs {@link #trackDirtyPages}).
     */
    public void snapshot(Path stateFile, Path memFile, SnapshotKey key, Protection p, boolean diff)
            throws IOException, InterruptedException {
        Machine m = requireMachine();
        if (!m.isPaused()) {
            m.pause();
        }
        Snapshots.SaveResult r = diff ? Snapshots.saveDiff(m, captureDeviceStates(), stateFile, memFile, key)
                : Snapshots.save(m, captureDeviceStates(), stateFile, memFile, key, p);
        LOG.info("snapshot saved: {} ({} bytes) and {} ({} bytes) in {} ms", stateFile, r.stateFileBytes(), memFile,
                r.memoryFileBytes(), r.elapsed().toMillis());
    }

    public boolean isPaused() {
        Machine m = current;
        return m != null && m.isPaused();
    }

    /**
     * Presses and releases Ctrl+Alt+Del on the PS/2 keyboard, as Firecracker's SendCtrlAltDel:
     * a Linux guest whose i8042/atkbd drivers are bound reboots (or does what its
     * ctrl_alt_del handling says). Returns false if the keyboard could not take the keys.
     */
    public boolean sendCtrlAltDel() {
        requireMachine();
        I8042 k = devices.keyboard();
        return k != null && k.injectCtrlAltDel();
    }

    private Machine requireMachine() {
        Machine m = current;
        if (m == null) {
            throw new IllegalStateException("the VM is not running");
        }
        return m;
    }

    /**
     * What the current machine's vCPUs are doing, with their KVM state and the interrupt
     * controllers ({@link Machine#report}); a report without vCPUs when no machine runs.
     */
    public MachineReport report(Duration answerTimeout) throws InterruptedException {
        Machine m = current;
        if (m == null) {
            return MachineReport.none(boots == 0 ? "not booted" : "between boots or ended");
        }
        return m.report(answerTimeout);
    }

    /** Counters over every boot of this VM so far. */
    public VmMetrics metrics() {
        Map<String, Long> exits = new TreeMap<>();
        Machine m = current;
        long ioOut;
        long mmioWrite;
        synchronized (this) {
            // The write counters first: an exit is counted by reason before its direction, so
            // reading them in this order never gives more writes than exits of that reason.
            ioOut = pastIoOutExits + (m != null ? m.ioOutExits() : 0);
            mmioWrite = pastMmioWriteExits + (m != null ? m.mmioWriteExits() : 0);
            for (int i = 0; i < pastExits.length; i++) {
                long n = pastExits[i] + (m != null ? m.exitCount(i) : 0);
                if (n > 0) {
                    exits.merge(KvmIoctls.exitName(i), n, Long::sum);
                }
            }
        }
        long since = startedNanos;
        long uptime = since == 0 ? 0 : (System.nanoTime() - since) / 1_000_000;
        Map<String, IoStats.Snapshot> io = new TreeMap<>();
        ioStats.forEach((id, st) -> io.put(id, st.snapshot()));
        return new VmMetrics(config.cpus(), uptime, exits, counters.snapshot(), boots, throttles.stats(),
                io, ioOut, mmioWrite);
    }

    /** The running balloon device, or null (none configured, or the guest is not running). */
    public VirtioBalloon balloon() {
        DeviceManager d = devices;
        return d == null ? null : d.balloon();
    }

    /**
     * A new balloon target (MiB) or statistics interval (seconds; 0: unchanged), from any thread:
     * the device takes it at once (a target change interrupts the driver, virtio 1.2 §5.5.6),
     * and the configuration keeps it, so a guest reboot and snapshots start from it.
     *
     * @throws IllegalArgumentException without a balloon; IllegalStateException for an interval
     *         the device cannot take (statistics turned on or off)
     */
    public void updateBalloon(Integer amountMib, int statsIntervalS) {
        synchronized (limitsLock) {
            DeviceConfig d = config.devices();
            VirtioBalloon device = balloon();
            if (d.balloon() == null || device == null) {
                throw new IllegalArgumentException("no balloon device");
            }
            io.jkvm.config.BalloonConfig b = d.balloon();
            if (statsIntervalS > 0) {
                device.setStatsIntervalS(statsIntervalS);
            }
            if (amountMib != null) {
                device.setTargetMib(amountMib);
            }
            config = config.withDevices(d.withBalloon(new io.jkvm.config.BalloonConfig(
                    amountMib != null ? amountMib : b.amountMib(), b.deflateOnOom(),
                    statsIntervalS > 0 ? statsIntervalS : b.statsIntervalS())));
        }
    }

    /**
     * New rate limits for the network interface on TAP {@code tap}, from any thread: its
     * virtio-net device applies them at once (a changed bucket starts full, an unchanged one
     * keeps its level), later boots use them, and snapshots record them.
     *
     * @throws IllegalArgumentException if no interface uses {@code tap}
     */
    public void updateNetworkRateLimits(String tap, RateLimitConfig rx, RateLimitConfig tx) {
        synchronized (limitsLock) {
            DeviceConfig d = config.devices();
            List<NetConfig> nets = new ArrayList<>(d.nets());
            int i = 0;
            while (i < nets.size() && !nets.get(i).tap().equals(tap)) {
                i++;
            }
            if (i == nets.size()) {
                throw new IllegalArgumentException("no network interface on TAP " + tap);
            }
            NetConfig n = nets.get(i);
            nets.set(i, new NetConfig(n.tap(), n.mac(), rx, tx));
            config = config.withDevices(d.withNets(nets));
            String id = DeviceManager.virtioIds(d).get(d.disks().size() + i);
            throttles.rx(id).update(rx);
            throttles.tx(id).update(tx);
        }
        LOG.info("network interface {}: rate limits rx {} tx {}", tap, rx, tx);
    }

    /**
     * New rate limits for the disk whose id (virtio-blk serial) is {@code diskId}, from any
     * thread, as {@link #updateNetworkRateLimits} does for an interface.
     *
     * @throws IllegalArgumentException if no disk has that id
     */
    public void updateDiskRateLimit(String diskId, RateLimitConfig limit) {
        synchronized (limitsLock) {
            DeviceConfig d = config.devices();
            int i = diskIndex(d, diskId);
            DiskConfig k = d.disks().get(i);
            setDisk(i, k.withRateLimit(limit));
            throttles.disk(DeviceManager.virtioIds(d).get(i)).update(limit);
        }
        LOG.info("disk {}: rate limit {}", diskId, limit);
    }
}
