package io.jkvm.vmm;

import io.jkvm.arch.x86.Layout;
import io.jkvm.arch.x86.VirtioMmioWindow;
import io.jkvm.config.BalloonConfig;
import io.jkvm.config.DeviceConfig;
import io.jkvm.config.DisplayConfig;
import io.jkvm.config.VmConfig;
import io.jkvm.config.VsockConfig;
import io.jkvm.device.BusDevice;
import io.jkvm.device.display.BochsDisplay;
import io.jkvm.device.display.Edid;
import io.jkvm.device.display.KvmVramMapping;
import io.jkvm.device.display.Vram;
import io.jkvm.device.display.VramFramebuffer;
import io.jkvm.device.legacy.AcpiPmDevice;
import io.jkvm.device.legacy.CmosRtc;
import io.jkvm.device.legacy.I8042;
import io.jkvm.device.legacy.Serial16550;
import io.jkvm.device.pci.PciConfigIo;
import io.jkvm.device.pci.PciRoot;
import io.jkvm.device.virtio.IoStats;
import io.jkvm.device.virtio.VirtioBalloon;
import io.jkvm.device.virtio.VirtioBlock;
import io.jkvm.device.virtio.VirtioConsole;
import io.jkvm.device.virtio.VirtioDevice;
import io.jkvm.device.virtio.VirtioNet;
import io.jkvm.device.virtio.VirtioRng;
import io.jkvm.device.virtio.VirtioTransportDevice;
import io.jkvm.device.virtio.input.VirtioInput;
import io.jkvm.device.virtio.vsock.VirtioVsock;
import io.jkvm.display.InputSink;
import io.jkvm.display.SwitchableInputSink;
import io.jkvm.memory.GuestRam;
import io.jkvm.mmds.MmdsBinding;
import io.jkvm.net.NetConfig;
import io.jkvm.net.Tap;
import io.jkvm.resources.Throttle;
import io.jkvm.snapshot.DeviceCodecs;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.SnapshotException;
import io.jkvm.storage.DiskConfig;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The devices of one machine (one boot, or one restore): the PC platform devices Linux expects
 * (16550 UART on COM1, i8042 for the reset line, CMOS RTC, ACPI hardware-reduced power
 * management, the PCI host bridge), the virtio functions on the configured transport and the
 * display. Booting, a snapshot restore and an incoming migration all build them through
 * {@link #attach}: with saved states every device is built from the state saved under its id, with
 * none it starts as after reset. {@link #capture} saves them all, keyed by the same ids.
 *
 * <p>Where a new device goes: its model in {@code io.jkvm.device} (its {@code State} record and
 * a {@code restore} that builds it from one), its id in {@link #virtioIds} (virtio) or a constant
 * here (platform), one line in {@link #attach}'s part for its kind, and its configuration in
 * {@link DeviceConfig}.
 */
final class DeviceManager implements AutoCloseable {
    // Device ids in the snapshot's device section; virtio functions are keyed by virtioIds().
    static final String SERIAL = "serial0";
    static final String I8042_ID = "i8042";
    static final String RTC = "rtc";
    static final String ACPI_PM = "acpi_pm";
    static final String PCI_HOST = "pci_host";
    /** The balloon's device id (snapshots, migration). */
    static final String BALLOON_ID = "balloon0";
    /** Device id of the display in error messages (snapshots refuse a VM with one). */
    static final String DISPLAY_ID = "display";

    /**
     * What outlives one machine and is shared by every machine of a VM: the UART (console input
     * keeps flowing across reboots), the console, the exit counters, the rate limiters and I/O
     * statistics (kept by device id), display clients' input and the display's VRAM and
     * framebuffer (null without a display).
     */
    record Shared(Serial16550 uart, LinuxVm.Console console, DeviceCounters counters, DeviceThrottles throttles,
            Map<String, IoStats> ioStats, SwitchableInputSink input, Vram vram, VramFramebuffer framebuffer) {
        IoStats ioStats(String deviceId) {
            return ioStats.computeIfAbsent(deviceId, k -> new IoStats());
        }
    }

    private final VmConfig config;
    private final Shared shared;
    private final MmdsBinding mmds;
    private PciRoot pci;
    private volatile I8042 keyboard;
    private volatile CmosRtc rtc;
    private volatile PciConfigIo pciIo;
    private volatile AcpiPmDevice acpiPm;
    private volatile VirtioAttachment virtio;
    /** The virtio devices (PCI functions or virtio-mmio windows) by device id, in attach order. */
    private volatile Map<String, VirtioTransportDevice> functions = Map.of();
    private volatile BochsDisplay display;

    /** Devices for a machine of {@code config}; {@code mmds} binds the metadata service to its NICs (null: none). */
    DeviceManager(VmConfig config, Shared shared, MmdsBinding mmds) {
        this.config = config;
        this.shared = shared;
        this.mmds = mmds;
    }

    /**
     * Builds every device on {@code m}, new for a boot or from {@code saved} states (null when
     * booting). On failure what was attached stays for {@link #detachDisplay} and {@link #close}.
     */
    void attach(Machine m, SavedDevices saved) throws IOException {
        attachPlatform(m, saved);
        virtio = attachVirtio(m, saved);
        attachDisplay(m, saved);
    }

    /** The platform devices. */
    private void attachPlatform(Machine m, SavedDevices saved) {
        DeviceCounters counters = shared.counters();
        m.pio().register(Layout.COM1_PORT, Serial16550.REGISTER_COUNT, counters.counting("serial", shared.uart()));
        Runnable kbdReset = () -> m.requestStop(StopReason.REBOOT, "guest reset through the i8042 keyboard controller");
        keyboard = saved == null ? new I8042(m.irqLine(Layout.I8042_KBD_IRQ), m.irqLine(Layout.I8042_AUX_IRQ), kbdReset)
                : saved.restore(I8042_ID, I8042.State.class,
                        s -> I8042.restore(m.irqLine(Layout.I8042_KBD_IRQ), m.irqLine(Layout.I8042_AUX_IRQ), kbdReset, s));
        m.pio().register(Layout.I8042_PORT, 5, counters.counting("i8042", keyboard));
        long low = GuestRam.layout(config.memoryBytes()).get(0)[1];
        long high = config.memoryBytes() - low;
        rtc = saved == null ? new CmosRtc(Clock.systemUTC(), low, high)
                : saved.restore(RTC, CmosRtc.State.class, s -> CmosRtc.restore(Clock.systemUTC(), low, high, s));
        m.pio().register(Layout.RTC_PORT, 2, counters.counting("rtc", rtc));
        Runnable powerOff = () -> m.requestStop(StopReason.POWER_OFF, "guest powered off (ACPI S5)");
        Runnable acpiReset = () -> m.requestStop(StopReason.REBOOT, "guest reset through the ACPI reset register");
        acpiPm = saved == null ? new AcpiPmDevice(powerOff, acpiReset)
                : saved.restore(ACPI_PM, AcpiPmDevice.State.class, s -> AcpiPmDevice.restore(powerOff, acpiReset, s));
        m.pio().register(Layout.ACPI_PM_PORT, 3, counters.counting("acpi_pm", acpiPm));
        PciRoot root = new PciRoot();
        pci = root;
        pciIo = saved == null ? new PciConfigIo(root)
                : saved.restore(PCI_HOST, PciConfigIo.State.class, s -> PciConfigIo.restore(root, s));
        m.pio().register(Layout.PCI_CONFIG_PORT, 8, counters.counting("pci_config", pciIo));
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
        DeviceThrottles throttles = shared.throttles();
        VirtioAttachment v = VirtioAttachment.of(config.virtioTransport(), m, pci);
        Map<String, VirtioTransportDevice> byId = new LinkedHashMap<>();
        List<String> ids = virtioIds(d);
        try {
            int index = 0;
            for (DiskConfig disk : d.disks()) {
                String id = ids.get(index);
                Throttle limit = throttles.disk(id);
                IoStats stats = shared.ioStats(id);
                attach(v, saved, byId, id, index++, st -> st == null ? VirtioBlock.open(disk, limit, stats)
                        : VirtioBlock.restore(disk, limit, stats, VirtioDevice.stateOf(st, VirtioBlock.State.class, id)));
            }
            for (NetConfig net : d.nets()) {
                String id = ids.get(index);
                attach(v, saved, byId, id, index++,
                        st -> new VirtioNet(Tap.open(net.tap()), net.mac(), throttles.rx(id), throttles.tx(id),
                                shared.ioStats("tap/" + net.tap()), mmds == null ? null : mmds.stackFor(net.tap())));
            }
            if (d.rng()) {
                attach(v, saved, byId, ids.get(index), index++, st -> new VirtioRng());
            }
            if (d.virtioConsole()) {
                LinuxVm.Console console = shared.console();
                attach(v, saved, byId, ids.get(index), index++, st -> new VirtioConsole(console.in(), console.out(), 80, 25));
            }
            if (d.vsock() != null) {
                VsockConfig vs = d.vsock();
                attach(v, saved, byId, ids.get(index), index++, st -> new VirtioVsock(vs.guestCid(), vs.udsPath()));
            }
            if (d.balloon() != null) {
                BalloonConfig b = d.balloon();
                attach(v, saved, byId, ids.get(index), index++,
                        st -> new VirtioBalloon(b.amountMib(), b.deflateOnOom(), b.statsIntervalS()));
            }
            if (d.display() != null) {
                // Input for display clients (virtio 1.2 §5.8): absolute pointer, so a VNC or browser
                // pointer lands where it is shown, with no grab; the i8042 keyboard stays too.
                VirtioInput keys = VirtioInput.keyboard();
                VirtioInput tablet = VirtioInput.tablet();
                attach(v, saved, byId, ids.get(index), index++, st -> keys);
                attach(v, saved, byId, ids.get(index), index++, st -> tablet);
                shared.input().switchTo(VirtioInput.inputSink(keys, tablet));
            }
        } catch (IOException | RuntimeException e) {
            v.close();
            throw e;
        }
        functions = Collections.unmodifiableMap(byId);
        return v;
    }

    private static void attach(VirtioAttachment v, SavedDevices saved, Map<String, VirtioTransportDevice> byId, String id,
            int index, VirtioAttachment.DeviceOpener opener) throws IOException {
        byId.put(id, v.attach(id, index, opener, saved));
    }

    /**
     * The bochs-display function after the virtio ones (its slot does not move theirs), its VRAM
     * a KVM memory slot of its own above guest RAM's, its EDID offering the configured mode.
     */
    private void attachDisplay(Machine m, SavedDevices saved) {
        DisplayConfig dc = config.devices().display();
        if (dc == null) {
            return;
        }
        if (saved != null) {
            throw new SnapshotException(DISPLAY_ID + ": a VM with a display cannot be restored from a snapshot or migration"
                    + " (its VRAM is not saved)");
        }
        KvmVramMapping mapping = new KvmVramMapping(m.vm(), m.allocateMemorySlot(), shared.vram());
        BochsDisplay dev;
        try {
            dev = new BochsDisplay(shared.vram(), mapping, m.mmio(), Edid.forMode(dc.width(), dc.height()));
            pci.add(dev);
        } catch (RuntimeException e) {
            mapping.close();
            throw e;
        }
        display = dev;
        shared.framebuffer().attach(dev);
    }

    /** What the kernel command line needs so the guest finds the virtio devices ("" when it enumerates them). */
    String kernelParameters() {
        return virtio.kernelParameters();
    }

    /** The virtio-mmio windows attached, for the ACPI tables (none on PCI). */
    List<VirtioMmioWindow> mmioWindows() {
        return virtio.mmioWindows();
    }

    /** The virtio functions by device id, in attach order (empty before {@link #attach}). */
    Map<String, VirtioTransportDevice> functions() {
        return functions;
    }

    /** The function whose id is {@code id}, or null. */
    VirtioTransportDevice function(String id) {
        return functions.get(id);
    }

    /** The PS/2 keyboard controller (null before {@link #attach}). */
    I8042 keyboard() {
        return keyboard;
    }

    /** The balloon device, or null (none configured). */
    VirtioBalloon balloon() {
        VirtioTransportDevice fn = functions.get(BALLOON_ID);
        return fn != null && fn.device() instanceof VirtioBalloon b ? b : null;
    }

    /**
     * Every device's state, keyed by its id, for a snapshot or migration; the machine must be
     * paused. Stops virtio I/O first: the request being processed finishes (into the used ring),
     * nothing else starts, and disks are fsync'd, so no request is in flight in the result. I/O
     * stays stopped until {@link #resumeIo}.
     */
    List<DeviceState> capture() {
        Map<String, VirtioTransportDevice> fns = functions;
        for (VirtioTransportDevice d : fns.values()) {
            try {
                d.suspendIo();
            } catch (IOException e) {
                throw new UncheckedIOException(d + ": cannot make its writes durable: " + e.getMessage(), e);
            }
        }
        DeviceCodecs codecs = DeviceStateFormat.CODECS;
        List<DeviceState> out = new ArrayList<>();
        out.add(codecs.encode(SERIAL, shared.uart().save()));
        out.add(codecs.encode(I8042_ID, keyboard.save()));
        out.add(codecs.encode(RTC, rtc.save()));
        out.add(codecs.encode(ACPI_PM, acpiPm.save()));
        out.add(codecs.encode(PCI_HOST, pciIo.save()));
        fns.forEach((id, d) -> out.add(codecs.encode(id, d.save())));
        return out;
    }

    /** Restarts virtio I/O that {@link #capture} stopped (harmless when it runs). */
    void resumeIo() {
        functions.values().forEach(VirtioTransportDevice::resumeIo);
    }

    /**
     * The guest now runs behind TAPs it was never seen on (a restore, the destination of a
     * migration): each NIC announces its MAC there, so bridges send its traffic here at once.
     */
    void announceNets() {
        for (VirtioTransportDevice d : functions.values()) {
            if (d.device() instanceof VirtioNet net) {
                net.announceSelf();
            }
        }
    }

    /**
     * Releases (false) or re-takes (true) the locks of the disk images, which stay open: live
     * migration hands the images to the destination VMM once they are flushed and takes them back
     * if the migration fails.
     */
    void setDiskLocks(boolean locked) throws IOException {
        if (virtio == null) {
            return; // closed: the images are closed too
        }
        for (VirtioTransportDevice d : functions.values()) {
            if (d.device() instanceof VirtioBlock b) {
                b.image().setLocked(locked);
            }
        }
    }

    /** Stops every disk's write log (a migration ended, one way or another); harmless when none runs. */
    void stopWriteLogs() {
        for (VirtioTransportDevice fn : functions.values()) {
            if (fn.device() instanceof VirtioBlock block) {
                block.logWrites(null);
            }
        }
    }

    /**
     * Takes the display away from the framebuffer and deletes its memory slot, and the input
     * devices from display clients (idempotent): before the machine closes, while its VM fd can
     * still delete the slot and its dirty log.
     */
    void detachDisplay() {
        shared.input().switchTo(InputSink.NONE);
        BochsDisplay dev = display;
        if (dev != null) {
            display = null;
            shared.framebuffer().detach(dev);
            dev.close();
        }
    }

    /** Tears down the virtio devices (their I/O threads, host resources); after the machine's vCPUs ended. */
    @Override
    public void close() {
        VirtioAttachment v = virtio;
        if (v != null) {
            virtio = null;
            v.close();
        }
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
