package io.jkvm.vmm;

import io.jkvm.arch.x86.Layout;
import io.jkvm.arch.x86.X86BootSetup;
import io.jkvm.arch.x86.cpu.BootCpuState;
import io.jkvm.arch.x86.cpu.BootMsrs;
import io.jkvm.arch.x86.cpu.Segment;
import io.jkvm.arch.x86.cpuid.CpuidBuilder;
import io.jkvm.config.DeviceConfig;
import io.jkvm.config.VsockConfig;
import io.jkvm.config.OnReboot;
import io.jkvm.device.virtio.IoStats;
import io.jkvm.device.virtio.VirtioBlock;
import io.jkvm.device.virtio.VirtioConsole;
import io.jkvm.device.virtio.VirtioNet;
import io.jkvm.device.virtio.VirtioBalloon;
import io.jkvm.device.virtio.VirtioRng;
import io.jkvm.device.virtio.vsock.VirtioVsock;
import io.jkvm.net.NetConfig;
import io.jkvm.net.Tap;
import io.jkvm.storage.DiskConfig;
import io.jkvm.config.VmConfig;
import io.jkvm.resources.NanoClock;
import io.jkvm.resources.RateLimitConfig;
import io.jkvm.resources.Throttle;
import io.jkvm.device.BusDevice;
import io.jkvm.device.legacy.AcpiPmDevice;
import io.jkvm.device.legacy.BufferedTransmitter;
import io.jkvm.device.legacy.CmosRtc;
import io.jkvm.device.legacy.I8042;
import io.jkvm.device.legacy.Serial16550;
import io.jkvm.device.pci.PciConfigIo;
import io.jkvm.device.pci.PciRoot;
import io.jkvm.kvm.CpuidEntry;
import io.jkvm.kvm.Kvm;
import io.jkvm.kvm.KvmIoctls;
import io.jkvm.kvm.KvmStructs;
import io.jkvm.kvm.MsrEntry;
import io.jkvm.kvm.Regs;
import io.jkvm.kvm.Sregs;
import io.jkvm.kvm.StructBuffer;
import io.jkvm.kvm.VcpuFd;
import io.jkvm.memory.GuestRam;
import io.jkvm.vmm.diag.MachineReport;
import io.jkvm.device.pci.PciConfigSpace;
import io.jkvm.device.virtio.VirtioTransportDevice;
import io.jkvm.device.virtio.VirtioDevice;
import io.jkvm.snapshot.DeviceCodecs;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.Protection;
import io.jkvm.snapshot.SnapshotException;
import io.jkvm.snapshot.SnapshotKey;
import io.jkvm.snapshot.Snapshots;
import io.jkvm.snapshot.VmConfigState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.Set;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A Linux guest on a {@link Machine}: the PC devices Linux expects (16550 UART on COM1, i8042
 * for the reset line, CMOS RTC, ACPI hardware-reduced power management, a PCI host bridge),
 * the boot data in guest RAM, CPUID and MSRs for every vCPU and the boot CPU's registers.
 * Reboots either end the run or start the machine again from scratch, per {@link OnReboot}.
 *
 * <p>Control from other threads (the API, signals) goes through {@link #stop}, {@link #pause},
 * {@link #resume} and {@link #sendCtrlAltDel}; none of them runs on or blocks a vCPU thread
 * beyond the machine's own pause handshake. {@link #metrics()} reads counters that add up over
 * every boot of this VM.
 */
public final class LinuxVm {
    private static final Logger LOG = LoggerFactory.getLogger(LinuxVm.class);

    // Device ids in the snapshot's device section; virtio functions are keyed by virtioIds().
    static final String SERIAL = "serial0";
    static final String I8042_ID = "i8042";
    static final String RTC = "rtc";
    static final String ACPI_PM = "acpi_pm";
    static final String PCI_HOST = "pci_host";

    /** Where the serial console goes and comes from. */
    public record Console(InputStream in, OutputStream out, boolean interactive) {}

    /** Replaced by a rate-limit update or a drive's new image, under {@link #limitsLock}. */
    private volatile VmConfig config;
    private final Object limitsLock = new Object();
    private final DeviceThrottles throttles;
    private final Console console;
    private volatile Machine current;
    private volatile VirtioAttachment virtio;
    private PciRoot pci;
    private volatile I8042 keyboard;
    private volatile boolean quit;
    private final DeviceCounters devices = new DeviceCounters();
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
    // The current machine's device models, for snapshots (set before its vCPUs start).
    private volatile Serial16550 uart;
    private volatile CmosRtc rtc;
    private volatile PciConfigIo pciIo;
    private volatile AcpiPmDevice acpiPm;
    /** The current machine's virtio devices (PCI functions or virtio-mmio windows) by device id, in attach order. */
    private volatile Map<String, VirtioTransportDevice> virtioById = Map.of();
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
    /** The current machine's display device, or null. */
    private volatile io.jkvm.device.display.BochsDisplay display;

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
        this.throttles = new DeviceThrottles(config.devices(), virtioIds(config.devices()), NanoClock.SYSTEM);
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
        Serial16550 serial;
        try {
            firstSaved = first == null ? null : new SavedDevices(first.devices(),
                    Set.of(VmConfigState.NAME, io.jkvm.mmds.MmdsState.NAME));
            serial = firstSaved == null ? new Serial16550(serialIrq, tx)
                    : firstSaved.restore(SERIAL, Serial16550.State.class, s -> Serial16550.restore(serialIrq, tx, s));
        } catch (RuntimeException e) {
            first.machine().close();
            throw e;
        }
        this.uart = serial;
        Serial16550 uart = serial;
        ConsoleInput input = new ConsoleInput(console.in(), uart, console.interactive(), () -> {
            LOG.info("console escape: stopping the VM");
            stop();
        });
        boolean inputStarted = false;
        try (Kvm kvm = openKvm()) {
            List<CpuidEntry> supported = kvm.supportedCpuid();
            while (true) {
                Snapshots.Restored restore = pendingRestore;
                pendingRestore = null;
                try (Machine m = restore != null ? restore.machine()
                        : Machine.create(kvm, new Machine.Options(config.cpus(), config.memoryBytes(), true, ramBacking),
                                o -> io.jkvm.memory.GuestRam.allocate(o.memoryBytes(), o.ramBacking(), ksm));
                        // Closed before the machine: the display's memory slot and dirty log go while the VM fd is open.
                        Cleanup displayCleanup = this::detachDisplay) {
                    if (ksm) {
                        if (restore != null) {
                            // A restored guest's RAM is a private file mapping: its copied-on-write pages are anonymous and merge.
                            try {
                                io.jkvm.memory.Ksm.enable(m.memory());
                            } catch (IllegalStateException e) {
                                throw new IOException(e.getMessage(), e);
                            }
                        }
                        if (!io.jkvm.memory.Ksm.hostMerging()) {
                            LOG.warn("--ksm: guest RAM is mergeable, but the host's ksmd is not running"
                                    + " (echo 1 > /sys/kernel/mm/ksm/run)");
                        }
                    }
                    if (trackDirtyPages) {
                        // Before devices attach and states apply: whatever they write to guest RAM
                        // after the restore differs from the snapshot's image, so it is logged.
                        m.trackDirtyPages().setBaseline(restore != null);
                    }
                    SavedDevices saved = restore != null ? firstSaved : null;
                    if (saved == null) {
                        uart.reset();
                    }
                    // Confinement before the devices exist: their I/O threads, which parse what the guest
                    // writes, are started by this thread and so inherit a per-thread Landlock domain
                    // (ABI < 8). Everything attaching opens, a guest reboot opens again anyway.
                    java.util.function.Consumer<VmConfig> hook = beforeFirstStart;
                    if (hook != null) {
                        beforeFirstStart = null;
                        hook.accept(config);
                    }
                    wireDevices(m, uart, saved);
                    virtio = attachVirtio(m, saved);
                    attachDisplay(m, saved);
                    if (saved != null) {
                        saved.finish();
                        LOG.info("resuming from a snapshot");
                    } else {
                        BootCpuState bsp = X86BootSetup.setup(m.memory(), new X86BootSetup.Config(config.memoryBytes(),
                                config.cpus(), config.kernel(), config.initrd().orElse(null),
                                kernelCommandLine(config.cmdline(), virtio.kernelParameters()),
                                virtio.mmioWindows()));
                        configureVcpus(m, supported, bsp);
                    }
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
                        announceNets();
                    }
                    started.complete(null);
                    // With a virtio console, stdin belongs to hvc0; the UART only shows early output.
                    if (!inputStarted && !config.devices().virtioConsole()) {
                        inputStarted = true;
                        input.start();
                    }
                    MachineExit exit = m.awaitExit();
                    current = null;
                    keyboard = null;
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
                    if (virtio != null) {
                        virtio.close();
                        virtio = null;
                    }
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
        if (virtio == null) {
            return;
        }
        for (VirtioTransportDevice d : virtioById.values()) {
            if (d.device() instanceof io.jkvm.device.virtio.VirtioBlock b) {
                b.image().setLocked(locked);
            }
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
            Map<String, VirtioTransportDevice> byId = virtioById;
            if (byId != null) {
                for (VirtioTransportDevice fn : byId.values()) {
                    if (fn.device() instanceof VirtioBlock block) {
                        block.logWrites(null);
                    }
                }
            }
        }
    }

    /** The running virtio-blk function of disk {@code index} of {@code d} ({@code id} names it in the error). */
    private VirtioTransportDevice blockFunction(DeviceConfig d, int index, String id) {
        Map<String, VirtioTransportDevice> byId = virtioById;
        VirtioTransportDevice fn = byId == null ? null : byId.get(virtioIds(d).get(index));
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
        if (virtio != null) {
            virtioById.values().forEach(VirtioTransportDevice::resumeIo);
        }
        m.resume();
        if (announcePending) {
            announcePending = false;
            announceNets();
        }
    }

    /**
     * The guest now runs behind TAPs it was never seen on (a restore, the destination of a
     * migration): each NIC announces its MAC there, so bridges send its traffic here at once.
     */
    private void announceNets() {
        for (VirtioTransportDevice d : virtioById.values()) {
            if (d.device() instanceof VirtioNet net) {
                net.announceSelf();
            }
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
            throw new IllegalStateException(DISPLAY_ID + ": snapshots and migration of a VM with a display are not"
                    + " supported (its VRAM is not saved); start it without --display");
        }
        Map<String, VirtioTransportDevice> functions = virtioById;
        for (VirtioTransportDevice d : functions.values()) {
            try {
                d.suspendIo();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(d + ": cannot make its writes durable: " + e.getMessage(), e);
            }
        }
        List<DeviceState> out = new ArrayList<>();
        out.add(VmConfigState.capture(config));
        DeviceCodecs codecs = DeviceStateFormat.CODECS;
        io.jkvm.mmds.MmdsBinding binding = mmds;
        if (binding != null) {
            out.add(codecs.encode(io.jkvm.mmds.MmdsState.NAME, binding.state()));
        }
        out.add(codecs.encode(SERIAL, uart.save()));
        out.add(codecs.encode(I8042_ID, keyboard.save()));
        out.add(codecs.encode(RTC, rtc.save()));
        out.add(codecs.encode(ACPI_PM, acpiPm.save()));
        out.add(codecs.encode(PCI_HOST, pciIo.save()));
        functions.forEach((id, d) -> out.add(codecs.encode(id, d.save())));
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
        I8042 k = keyboard;
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
        return new VmMetrics(config.cpus(), uptime, exits, devices.snapshot(), boots, throttles.stats(),
                io, ioOut, mmioWrite);
    }

    /** The balloon's device id (snapshots, migration). */
    static final String BALLOON_ID = "balloon0";

    /** The running balloon device, or null (none configured, or the guest is not running). */
    public VirtioBalloon balloon() {
        VirtioTransportDevice fn = virtioById.get(BALLOON_ID);
        return fn != null && fn.device() instanceof VirtioBalloon b ? b : null;
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
            String id = virtioIds(d).get(d.disks().size() + i);
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
            throttles.disk(virtioIds(d).get(i)).update(limit);
        }
        LOG.info("disk {}: rate limit {}", diskId, limit);
    }

    /** The platform devices, new for a boot or built from {@code saved} states (null when booting). */
    private void wireDevices(Machine m, Serial16550 uart, SavedDevices saved) {
        m.pio().register(Layout.COM1_PORT, Serial16550.REGISTER_COUNT, devices.counting("serial", uart));
        Runnable kbdReset = () -> m.requestStop(StopReason.REBOOT, "guest reset through the i8042 keyboard controller");
        I8042 kbd = saved == null ? new I8042(m.irqLine(Layout.I8042_KBD_IRQ), m.irqLine(Layout.I8042_AUX_IRQ), kbdReset)
                : saved.restore(I8042_ID, I8042.State.class, s -> I8042.restore(m.irqLine(Layout.I8042_KBD_IRQ), m.irqLine(Layout.I8042_AUX_IRQ), kbdReset, s));
        keyboard = kbd;
        m.pio().register(Layout.I8042_PORT, 5, devices.counting("i8042", kbd));
        long low = GuestRam.layout(config.memoryBytes()).get(0)[1];
        long high = config.memoryBytes() - low;
        CmosRtc clock = saved == null ? new CmosRtc(Clock.systemUTC(), low, high)
                : saved.restore(RTC, CmosRtc.State.class, s -> CmosRtc.restore(Clock.systemUTC(), low, high, s));
        rtc = clock;
        m.pio().register(Layout.RTC_PORT, 2, devices.counting("rtc", clock));
        Runnable powerOff = () -> m.requestStop(StopReason.POWER_OFF, "guest powered off (ACPI S5)");
        Runnable acpiReset = () -> m.requestStop(StopReason.REBOOT, "guest reset through the ACPI reset register");
        AcpiPmDevice pm = saved == null ? new AcpiPmDevice(powerOff, acpiReset)
                : saved.restore(ACPI_PM, AcpiPmDevice.State.class, s -> AcpiPmDevice.restore(powerOff, acpiReset, s));
        acpiPm = pm;
        m.pio().register(Layout.ACPI_PM_PORT, 3, devices.counting("acpi_pm", pm));
        PciRoot root = new PciRoot();
        pci = root;
        pciIo = saved == null ? new PciConfigIo(root)
                : saved.restore(PCI_HOST, PciConfigIo.State.class, s -> PciConfigIo.restore(root, s));
        m.pio().register(Layout.PCI_CONFIG_PORT, 8, devices.counting("pci_config", pciIo));
        // Port 0x80 is the POST/delay port Linux writes to for I/O delays: accept silently.
        m.pio().register(0x80, 1, Sink.INSTANCE);
    }

    /**
     * The virtio devices, on the configured transport ({@link VirtioAttachment}): PCI bus 0 from
     * slot 1 (Linux uses MSI-X), or virtio-mmio windows the command line declares. With
     * {@code saved} states, each is rebuilt from the state saved under its id
     * ({@link #virtioIds}) around a device opened from this configuration's host resources.
     */
    private VirtioAttachment attachVirtio(Machine m, SavedDevices saved) throws IOException {
        DeviceConfig d = config.devices();
        VirtioAttachment v = VirtioAttachment.of(config.virtioTransport(), m, pci);
        Map<String, VirtioTransportDevice> byId = new LinkedHashMap<>();
        List<String> ids = virtioIds(d);
        try {
            int index = 0;
            for (DiskConfig disk : d.disks()) {
                String id = ids.get(index);
                Throttle limit = throttles.disk(id);
                IoStats stats = ioStats(id);
                attach(v, saved, byId, id, index++, st -> st == null ? VirtioBlock.open(disk, limit, stats)
                        : VirtioBlock.restore(disk, limit, stats, VirtioDevice.stateOf(st, VirtioBlock.State.class, id)));
            }
            for (NetConfig net : d.nets()) {
                String id = ids.get(index);
                attach(v, saved, byId, id, index++,
                        st -> new VirtioNet(Tap.open(net.tap()), net.mac(), throttles.rx(id), throttles.tx(id), ioStats("tap/" + net.tap()),
                                mmds == null ? null : mmds.stackFor(net.tap())));
            }
            if (d.rng()) {
                attach(v, saved, byId, ids.get(index), index++, st -> new VirtioRng());
            }
            if (d.virtioConsole()) {
                attach(v, saved, byId, ids.get(index), index++, st -> new VirtioConsole(console.in(), console.out(), 80, 25));
            }
            if (d.vsock() != null) {
                VsockConfig vs = d.vsock();
                attach(v, saved, byId, ids.get(index), index++, st -> new VirtioVsock(vs.guestCid(), vs.udsPath()));
            }
            if (d.balloon() != null) {
                io.jkvm.config.BalloonConfig b = d.balloon();
                attach(v, saved, byId, ids.get(index), index++,
                        st -> new VirtioBalloon(b.amountMib(), b.deflateOnOom(), b.statsIntervalS()));
            }
            if (d.display() != null) {
                // Input for display clients (virtio 1.2 §5.8): absolute pointer, so a VNC or browser
                // pointer lands where it is shown, with no grab; the i8042 keyboard stays too.
                io.jkvm.device.virtio.input.VirtioInput keyboard = io.jkvm.device.virtio.input.VirtioInput.keyboard();
                io.jkvm.device.virtio.input.VirtioInput tablet = io.jkvm.device.virtio.input.VirtioInput.tablet();
                attach(v, saved, byId, ids.get(index), index++, st -> keyboard);
                attach(v, saved, byId, ids.get(index), index++, st -> tablet);
                input.switchTo(io.jkvm.device.virtio.input.VirtioInput.inputSink(keyboard, tablet));
            }
        } catch (IOException | RuntimeException e) {
            v.close();
            throw e;
        }
        virtioById = java.util.Collections.unmodifiableMap(byId);
        return v;
    }

    /** Device id of the display in error messages (snapshots refuse a VM with one). */
    static final String DISPLAY_ID = "display";

    /**
     * The bochs-display function after the virtio ones (its slot does not move theirs), its VRAM
     * a KVM memory slot of its own above guest RAM's, its EDID offering the configured mode.
     */
    private void attachDisplay(Machine m, SavedDevices saved) {
        io.jkvm.config.DisplayConfig dc = config.devices().display();
        if (dc == null) {
            return;
        }
        if (saved != null) {
            throw new SnapshotException(DISPLAY_ID + ": a VM with a display cannot be restored from a snapshot or migration"
                    + " (its VRAM is not saved)");
        }
        io.jkvm.device.display.KvmVramMapping mapping = new io.jkvm.device.display.KvmVramMapping(m.vm(), m.allocateMemorySlot(), vram);
        io.jkvm.device.display.BochsDisplay dev;
        try {
            dev = new io.jkvm.device.display.BochsDisplay(vram, mapping, m.mmio(),
                    io.jkvm.device.display.Edid.forMode(dc.width(), dc.height()));
            pci.add(dev);
        } catch (RuntimeException e) {
            mapping.close();
            throw e;
        }
        display = dev;
        framebuffer.attach(dev);
    }

    /** A per-boot teardown step that throws nothing checked. */
    private interface Cleanup extends AutoCloseable {
        @Override
        void close();
    }

    /** Takes the current machine's display away from the framebuffer and deletes its memory slot (idempotent). */
    private void detachDisplay() {
        input.switchTo(io.jkvm.display.InputSink.NONE); // the machine's input devices go with it
        io.jkvm.device.display.BochsDisplay dev = display;
        if (dev != null) {
            display = null;
            framebuffer.detach(dev);
            dev.close();
        }
    }

    private IoStats ioStats(String deviceId) {
        return ioStats.computeIfAbsent(deviceId, k -> new IoStats());
    }

    private static void attach(VirtioAttachment v, SavedDevices saved, Map<String, VirtioTransportDevice> byId, String id,
            int index, VirtioAttachment.DeviceOpener opener) throws IOException {
        byId.put(id, v.attach(id, index, opener, saved));
    }

    /** The configured command line, then what the transport needs the guest to know (virtio-mmio's device= parameters). */
    static String kernelCommandLine(String configured, String transportParameters) {
        return transportParameters.isEmpty() ? configured
                : configured.isEmpty() ? transportParameters : configured + " " + transportParameters;
    }

    /**
     * The device ids of the virtio functions, in slot order: a disk's drive_id ("drive/ID"; a
     * disk configured without one is "diskN", N its position among the disks), a network
     * interface's guest MAC ("net/MAC", which live migration keeps), "rng0", "console0", "vsock0", "balloon0",
     * and with a display "keyboard0" and "tablet0".
     */
    static List<String> virtioIds(DeviceConfig d) {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < d.disks().size(); i++) {
            String id = d.disks().get(i).id();
            ids.add(id != null ? "drive/" + id : "disk" + i);
        }
        for (NetConfig n : d.nets()) {
            ids.add("net/" + n.mac());
        }
        if (d.rng()) {
            ids.add("rng0");
        }
        if (d.virtioConsole()) {
            ids.add("console0");
        }
        if (d.vsock() != null) {
            ids.add("vsock0");
        }
        if (d.balloon() != null) {
            ids.add(BALLOON_ID);
        }
        if (d.display() != null) {
            ids.add("keyboard0");
            ids.add("tablet0");
        }
        return ids;
    }

    /** An MSR's value on a fresh vCPU, which a CPU template's modifier starts from. */
    private static long currentMsr(VcpuFd v, int addr) {
        List<MsrEntry> got = v.getMsrs(new int[] {addr});
        if (got.isEmpty()) {
            throw new IllegalStateException(String.format(
                    "the CPU template changes MSR %#x, which KVM cannot read on this host", addr));
        }
        return got.getFirst().data();
    }

    private void configureVcpus(Machine m, List<CpuidEntry> supported, BootCpuState bsp) {
        // Leaf 1 ECX[24] (TSC-deadline timer, KVM_CAP_TSC_DEADLINE_TIMER) stays clear although QEMU
        // and Firecracker set it: lab runs with it set saw the lab machine stop twice in ~30 boots,
        // unexplained. It goes in once measured against the lab.
        CpuidBuilder cpuid = new CpuidBuilder(supported, config.nested());
        io.jkvm.arch.x86.cpuid.CpuTemplate template = config.cpuTemplate();
        for (int cap : template.kvmCapabilities()) {
            if (m.kvm().checkExtension(cap) <= 0) {
                throw new IllegalStateException("the CPU template needs KVM capability " + cap + ", which this host lacks");
            }
        }
        for (VcpuFd v : m.vcpus()) {
            // The template after CpuidBuilder (topology, hypervisor bit) and before KVM_SET_CPUID2;
            // its MSRs after KVM_SET_CPUID2, which decides which MSRs KVM accepts (api.rst).
            v.setCpuid(template.applyToCpuid(cpuid.forVcpu(v.id(), config.cpus())));
            v.setMsrs(template.applyToMsrs(BootMsrs.entries(), addr -> currentMsr(v, addr)));
            // x87 and SSE control words as after FNINIT / reset (Intel SDM 9.1.1).
            StructBuffer fpu = v.getFpu();
            fpu.u16(KvmStructs.Fpu.FCW, 0x37f);
            fpu.u32(KvmStructs.Fpu.MXCSR, 0x1f80);
            v.setFpu(fpu);
            // LINT0 as ExtINT (the 8259 behind the local APIC), LINT1 as NMI: the virtual-wire
            // setup of a PC (MP spec 3.6.2.2), which Linux expects before switching to the IOAPIC.
            StructBuffer lapic = v.getLapic();
            lapic.u32(KvmStructs.Lapic.LVT_LINT0, (lapic.u32(KvmStructs.Lapic.LVT_LINT0) & ~0x700 & ~0x10000) | 0x700);
            lapic.u32(KvmStructs.Lapic.LVT_LINT1, (lapic.u32(KvmStructs.Lapic.LVT_LINT1) & ~0x700 & ~0x10000) | 0x400);
            v.setLapic(lapic);
        }
        VcpuFd boot = m.vcpus().get(0);
        Sregs s = boot.getSregs();
        s.cs(seg(bsp.cs()));
        s.segment(KvmStructs.Sregs.DS, seg(bsp.ds()));
        s.segment(KvmStructs.Sregs.ES, seg(bsp.es()));
        s.segment(KvmStructs.Sregs.FS, seg(bsp.fs()));
        s.segment(KvmStructs.Sregs.GS, seg(bsp.gs()));
        s.segment(KvmStructs.Sregs.SS, seg(bsp.ss()));
        s.tr(seg(bsp.tr()));
        s.ldt(seg(bsp.ldt()));
        s.gdt(bsp.gdt().base(), bsp.gdt().limit());
        s.idt(bsp.idt().base(), bsp.idt().limit());
        s.cr0(bsp.cr0());
        s.cr3(bsp.cr3());
        s.cr4(bsp.cr4());
        s.efer(bsp.efer());
        boot.setSregs(s);
        Regs r = new Regs();
        r.rip(bsp.rip());
        r.rsi(bsp.rsi());
        r.rbx(bsp.rbx());
        r.rsp(bsp.rsp());
        r.rbp(bsp.rsp());
        r.rflags(bsp.rflags());
        boot.setRegs(r);
    }

    private static Sregs.Seg seg(Segment s) {
        return new Sregs.Seg(s.base(), (int) s.limit(), s.selector(), s.type(), s.present(), s.dpl(), s.db(),
                s.s(), s.l(), s.g(), s.avl(), s.unusable());
    }

    /** Reads as zero, ignores writes, never logs. */
    private enum Sink implements BusDevice {
        INSTANCE;

        public long read(long offset, int size) {
            return 0;
        }

        public void write(long offset, int size, long value) {
        }
    }
}
