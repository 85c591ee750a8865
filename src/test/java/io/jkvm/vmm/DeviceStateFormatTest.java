package io.jkvm.vmm;

import io.jkvm.config.DeviceConfig;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VmConfig;
import io.jkvm.device.legacy.AcpiPmDevice;
import io.jkvm.device.legacy.CmosRtc;
import io.jkvm.device.legacy.I8042;
import io.jkvm.device.legacy.Serial16550;
import io.jkvm.device.pci.PciConfigIo;
import io.jkvm.device.pci.PciConfigSpace;
import io.jkvm.device.pci.PciRoot;
import io.jkvm.device.virtio.VirtioBlock;
import io.jkvm.device.virtio.VirtioConsole;
import io.jkvm.device.virtio.VirtioDevice;
import io.jkvm.device.virtio.VirtioNet;
import io.jkvm.device.virtio.Virtqueue;
import io.jkvm.device.virtio.pci.MsixTable;
import io.jkvm.device.virtio.pci.VirtioPciState;
import io.jkvm.net.MacAddress;
import io.jkvm.net.NetConfig;
import io.jkvm.snapshot.DeviceCodecs;
import io.jkvm.snapshot.DeviceMismatchException;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.SnapshotException;
import io.jkvm.snapshot.StateWriter;
import io.jkvm.storage.DiskConfig;
import org.junit.jupiter.api.Test;

import java.io.OutputStream;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The device section's format: a round trip of every device's state record through the one
 * registry, restores that build devices from them, and refusals of another format version,
 * another kind under an id, missing and extra ids, and out-of-range fields - each naming the
 * device id and the field.
 */
class DeviceStateFormatTest {
    private static final DeviceCodecs CODECS = DeviceStateFormat.CODECS;

    static I8042.State i8042() {
        return new I8042.State(0x47, 0x03, 0x60, -1, true, 0xfa, new int[] {0xfa, 0x1aa, 0x02});
    }

    static CmosRtc.State rtc() {
        byte[] cmos = new byte[128];
        for (int i = 0; i < cmos.length; i++) {
            cmos[i] = (byte) (i * 7);
        }
        return new CmosRtc.State(cmos, 0x0b, true, -123_456_789_000L);
    }

    static Serial16550.State serial() {
        return new Serial16550.State(1, 2, 3, 0xc1, 3, 0x0b, 0, 1, 0x55, true, new byte[] {'h', 'i'});
    }

    static VirtioPciState virtio(Record device) {
        MsixTable.State msix = new MsixTable.State(new long[] {0xfee0_0000L, 0xfee0_1000L}, new int[] {0x41, 0x42},
                new boolean[] {false, true}, new boolean[] {false, true}, true, false);
        byte[] cfg = new byte[256];
        cfg[0] = (byte) 0xf4;
        return new VirtioPciState(2, cfg, msix, 1, 0, 0x1_3000_0000L, 0x0f, 3, 0, 0,
                1, List.of(new VirtioPciState.Queue(16, 1, true, 0x1000, 0x1100, 0x1200,
                        new Virtqueue.Position(65535, 65530, 65530, true))), device);
    }

    static VmConfig vmConfig() {
        return new VmConfig(Path.of("/boot/vmlinuz"), Optional.empty(), "console=ttyS0", 1, 64L << 20, OnReboot.RESTART,
                false, new DeviceConfig(List.of(new DiskConfig(Path.of("/var/disk.img"), false, "rootfs")),
                        List.of(new NetConfig("tap0", MacAddress.parse("52:54:00:12:34:56"))), true, false));
    }

    private static <S extends Record> S roundTrip(String id, S state, Class<S> type) {
        DeviceState d = CODECS.encode(id, state);
        assertThat(d.name()).isEqualTo(id);
        assertThat(d.bytes()[0]).as("the section's one format version").isEqualTo((byte) DeviceCodecs.FORMAT_VERSION);
        return CODECS.decode(d, type);
    }

    @Test
    void everyLegacyStateRoundTripsAndBuildsTheDevice() {
        assertThat(roundTrip("serial0", serial(), Serial16550.State.class)).isEqualTo(serial());
        Serial16550 uart = Serial16550.restore(h -> { }, OutputStream.nullOutputStream(), serial());
        assertThat(uart.save()).isEqualTo(serial());

        assertThat(roundTrip("i8042", i8042(), I8042.State.class)).usingRecursiveComparison().isEqualTo(i8042());
        I8042 kbd = I8042.restore(h -> { }, h -> { }, () -> { }, i8042());
        assertThat(kbd.save()).usingRecursiveComparison().isEqualTo(i8042());
        assertThat(kbd.commandByte()).isEqualTo(0x47);

        assertThat(roundTrip("rtc", rtc(), CmosRtc.State.class)).usingRecursiveComparison().isEqualTo(rtc());
        CmosRtc clock = CmosRtc.restore(Clock.fixed(Instant.parse("2026-01-01T00:00:00Z"), ZoneOffset.UTC), 256L << 20, 0,
                rtc());
        assertThat(clock.guestTimeOffset().toNanos()).isEqualTo(-123_456_789_000L);
        assertThat(clock.cmosByte(0x15)).isEqualTo((0x15 * 7) & 0xff);

        assertThat(roundTrip("acpi_pm", new AcpiPmDevice.State(), AcpiPmDevice.State.class)).isEqualTo(new AcpiPmDevice.State());
    }

    @Test
    void pciHostRoundTripBuildsTheConfigMechanism() {
        PciRoot root = new PciRoot();
        PciConfigIo io = new PciConfigIo(root);
        io.write(0, 4, 0x8000_0804L);
        root.device(0, 0, 0).orElseThrow().config().write(PciConfigSpace.COMMAND, 2, PciConfigSpace.COMMAND_MEMORY);

        PciRoot root2 = new PciRoot();
        PciConfigIo io2 = PciConfigIo.restore(root2, roundTrip("pci_host", io.save(), PciConfigIo.State.class));
        assertThat(io2.address()).isEqualTo(0x8000_0804);
        assertThat(root2.device(0, 0, 0).orElseThrow().config().command()).isEqualTo(PciConfigSpace.COMMAND_MEMORY);
    }

    @Test
    void virtioStatesRoundTripWithTheDeviceStateNested() {
        for (Record device : List.of(new VirtioBlock.State(2048, true), new VirtioNet.State(new int[] {5, 7}),
                new VirtioConsole.State(new byte[] {'x'}), new VirtioDevice.NoState(),
                new io.jkvm.device.virtio.VirtioBalloon.State(1, 2, 3, io.jkvm.device.virtio.BalloonStatistics.NONE.with(9, -1), -1))) {
            VirtioPciState s = roundTrip("drive/rootfs", virtio(device), VirtioPciState.class);
            assertThat(s).usingRecursiveComparison().isEqualTo(virtio(device));
            assertThat(s.device()).isEqualTo(device);
        }
    }

    @Test
    void anotherFormatVersionIsRefusedNamingBoth() {
        byte[] b = CODECS.encode("serial0", serial()).bytes();
        b[0] = 1; // what jkvm wrote before the registry: SerialDeviceState's own version byte
        assertThatThrownBy(() -> CODECS.decode(DeviceState.of("serial0", b), Serial16550.State.class))
                .isInstanceOf(SnapshotException.class)
                .hasMessageContaining("device serial0")
                .hasMessageContaining("format version 1, this jkvm reads version " + DeviceCodecs.FORMAT_VERSION);
    }

    @Test
    void aStateOfAnotherKindUnderAnIdIsAMismatch() {
        DeviceState rtcUnderSerial = CODECS.encode("serial0", rtc());
        assertThatThrownBy(() -> CODECS.decode(rtcUnderSerial, Serial16550.State.class))
                .isInstanceOf(DeviceMismatchException.class)
                .hasMessageContaining("device serial0: holds a cmos_rtc state, expected a serial16550");
        // A disk's function whose nested state is a network card's: refused by the disk it is restored into.
        VirtioPciState netInDisk = virtio(new VirtioNet.State(new int[0]));
        assertThatThrownBy(() -> VirtioDevice.stateOf(netInDisk.device(), VirtioBlock.State.class, "drive/rootfs"))
                .isInstanceOf(DeviceMismatchException.class)
                .hasMessageContaining("device drive/rootfs").hasMessageContaining("VirtioBlock.State");
    }

    @Test
    void transportsNestedInTransportsAreRefusedWithoutRecursingDeep() {
        Record inner = new VirtioDevice.NoState();
        for (int i = 0; i < 3; i++) {
            inner = virtio(inner);
        }
        DeviceState d = CODECS.encode("rng0", inner);
        assertThatThrownBy(() -> CODECS.decode(d, VirtioPciState.class)).isInstanceOf(SnapshotException.class)
                .hasMessageContaining("device rng0: device state nests records deeper than 2");
    }

    @Test
    void anUnknownKindIsRefused() {
        byte[] b = new StateWriter().u8(DeviceCodecs.FORMAT_VERSION).string("floppy").toByteArray();
        assertThatThrownBy(() -> CODECS.decode(DeviceState.of("fd0", b), Record.class))
                .isInstanceOf(SnapshotException.class).hasMessageContaining("device fd0: state kind 'floppy' is unknown");
    }

    @Test
    void outOfRangeFieldsAreRefusedNamingDeviceAndField() {
        // i8042 queue of 17 entries (the controller holds 16).
        byte[] q = new StateWriter().u8(DeviceCodecs.FORMAT_VERSION).string("i8042").u8(0).u8(0).u16(0xffff).u16(0xffff)
                .bool(false).u8(0).u8(17).toByteArray();
        assertThatThrownBy(() -> CODECS.decode(DeviceState.of("i8042", q), I8042.State.class))
                .isInstanceOf(SnapshotException.class).hasMessageContaining("device i8042: queue length 17 outside 0..16");
        // virtio-net receive chain head beyond the queue.
        byte[] n = new StateWriter().u8(DeviceCodecs.FORMAT_VERSION).string("virtio-net").u16(1).u16(VirtioNet.QUEUE_SIZE)
                .toByteArray();
        assertThatThrownBy(() -> CODECS.decode(DeviceState.of("net/x", n), VirtioNet.State.class))
                .isInstanceOf(SnapshotException.class).hasMessageContaining("device net/x: receive chain head 256 outside");
        // A boolean that is neither 0 nor 1.
        byte[] blk = new StateWriter().u8(DeviceCodecs.FORMAT_VERSION).string("virtio-blk").i64(8).u8(2).toByteArray();
        assertThatThrownBy(() -> CODECS.decode(DeviceState.of("drive/d", blk), VirtioBlock.State.class))
                .isInstanceOf(SnapshotException.class).hasMessageContaining("device drive/d: read-only is 2");
        // CMOS index past the 128 bytes.
        StateWriter w = new StateWriter().u8(DeviceCodecs.FORMAT_VERSION).string("cmos_rtc");
        for (int i = 0; i < 128; i++) {
            w.u8(0);
        }
        byte[] rtc = w.u8(200).bool(false).i64(0).toByteArray();
        assertThatThrownBy(() -> CODECS.decode(DeviceState.of("rtc", rtc), CmosRtc.State.class))
                .isInstanceOf(SnapshotException.class).hasMessageContaining("device rtc: index 200 outside 0..127");
    }

    @Test
    void truncatedAndTrailingBytesAreRefused() {
        byte[] v = CODECS.encode("drive/rootfs", virtio(new VirtioBlock.State(8, false))).bytes();
        assertThatThrownBy(() -> CODECS.decode(DeviceState.of("drive/rootfs", Arrays.copyOf(v, v.length - 1)),
                VirtioPciState.class)).isInstanceOf(SnapshotException.class)
                .hasMessageContaining("device drive/rootfs: truncated");
        assertThatThrownBy(() -> CODECS.decode(DeviceState.of("drive/rootfs", Arrays.copyOf(v, v.length + 1)),
                VirtioPciState.class)).isInstanceOf(SnapshotException.class).hasMessageContaining("1 unexpected trailing");
    }

    @Test
    void statesAreTakenByIdAndLeftoversRefused() {
        SavedDevices saved = new SavedDevices(List.of(CODECS.encode("serial0", serial()), CODECS.encode("rng0",
                virtio(new VirtioDevice.NoState())), DeviceState.of("vm_config", new byte[] {1})), Set.of("vm_config"));
        assertThat(saved.take("serial0", Serial16550.State.class)).isEqualTo(serial());
        assertThatThrownBy(() -> saved.take("i8042", I8042.State.class)).isInstanceOf(SnapshotException.class)
                .hasMessageContaining("no state for device i8042");
        assertThatThrownBy(saved::finish).isInstanceOf(SnapshotException.class).hasMessageContaining("lacks: [rng0]");
        assertThatThrownBy(() -> new SavedDevices(List.of(CODECS.encode("a", serial()), CODECS.encode("a", serial())),
                Set.of())).isInstanceOf(SnapshotException.class).hasMessageContaining("two device states are named a");
    }

    @Test
    void aRestoreThatBreaksAReadOnlyBitIsAMismatchNamingTheDevice() {
        PciConfigIo.State s = new PciConfigIo(new PciRoot()).save();
        byte[] cfg = s.hostBridgeConfig();
        cfg[PciConfigSpace.DEVICE_ID] ^= 1;
        SavedDevices saved = new SavedDevices(List.of(CODECS.encode("pci_host", new PciConfigIo.State(0, cfg))), Set.of());
        assertThatThrownBy(() -> saved.restore("pci_host", PciConfigIo.State.class, st -> PciConfigIo.restore(new PciRoot(), st)))
                .isInstanceOf(DeviceMismatchException.class).hasMessageContaining("device pci_host").hasMessageContaining("0x02");
    }

    @Test
    void virtioFunctionsAreKeyedByDriveIdAndMac() {
        DeviceConfig d = new DeviceConfig(List.of(new DiskConfig(Path.of("/a.img"), false, "rootfs"),
                new DiskConfig(Path.of("/b.img"), true, null)),
                List.of(new NetConfig("tap0", MacAddress.parse("52:54:00:12:34:56"))), true, true);
        assertThat(DeviceManager.virtioIds(d)).containsExactly("drive/rootfs", "disk1", "net/52:54:00:12:34:56", "rng0", "console0");
        MacAddress mac = MacAddress.parse("52:54:00:12:34:56");
        assertThatThrownBy(() -> new DeviceConfig(List.of(), List.of(new NetConfig("tap0", mac), new NetConfig("tap1", mac)),
                false, false)).isInstanceOf(io.jkvm.config.ConfigException.class).hasMessageContaining("the same MAC");
    }
}
