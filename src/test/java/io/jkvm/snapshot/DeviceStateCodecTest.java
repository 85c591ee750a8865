package io.jkvm.snapshot;

import io.jkvm.config.DeviceConfig;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VmConfig;
import io.jkvm.device.legacy.CmosRtc;
import io.jkvm.device.legacy.I8042;
import io.jkvm.device.pci.PciConfigIo;
import io.jkvm.device.pci.PciConfigSpace;
import io.jkvm.device.pci.PciHostBridge;
import io.jkvm.device.pci.PciRoot;
import io.jkvm.device.virtio.Virtqueue;
import io.jkvm.device.virtio.pci.MsixTable;
import io.jkvm.device.virtio.pci.VirtioPciState;
import io.jkvm.net.MacAddress;
import io.jkvm.net.NetConfig;
import io.jkvm.storage.DiskConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Round trips of every device-state encoding, and refusals that name the problem. */
class DeviceStateCodecTest {
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

    static VirtioPciState virtio() {
        MsixTable.State msix = new MsixTable.State(new long[] {0xfee0_0000L, 0xfee0_1000L}, new int[] {0x41, 0x42},
                new boolean[] {false, true}, new boolean[] {false, true}, true, false);
        byte[] cfg = new byte[256];
        cfg[0] = (byte) 0xf4;
        return new VirtioPciState(4, cfg, msix, 1, 0, 0x1_3000_0000L, 0x0f, 3, 0, 0,
                1, List.of(new VirtioPciState.Queue(16, 1, true, 0x1000, 0x1100, 0x1200,
                        new Virtqueue.Position(65535, 65530, 65530, true))), new byte[] {9, 8, 7});
    }

    static VmConfig vmConfig() {
        return new VmConfig(Path.of("/boot/vmlinuz"), Optional.of(Path.of("/boot/initrd.img")), "console=ttyS0 root=/dev/vda",
                2, 256L << 20, OnReboot.RESTART, false,
                new DeviceConfig(List.of(new DiskConfig(Path.of("/var/disk.img"), false, "rootfs"),
                        new DiskConfig(Path.of("/var/data.img"), true, null)),
                        List.of(new NetConfig("tap0", MacAddress.parse("52:54:00:12:34:56"))), true, false));
    }

    @Test
    void i8042RoundTrip() {
        I8042.State s = I8042DeviceState.decode("i8042", I8042DeviceState.encode(i8042()));
        assertThat(s).usingRecursiveComparison().isEqualTo(i8042());
        I8042 kbd = new I8042(high -> { }, high -> { }, () -> { });
        I8042DeviceState.apply(DeviceState.of("i8042", I8042DeviceState.encode(i8042())), kbd);
        assertThat(kbd.state()).usingRecursiveComparison().isEqualTo(i8042());
        assertThat(kbd.commandByte()).isEqualTo(0x47);
    }

    @Test
    void rtcRoundTripKeepsTheGuestsClockOffset() {
        CmosRtc.State s = CmosRtcDeviceState.decode("rtc", CmosRtcDeviceState.encode(rtc()));
        assertThat(s).usingRecursiveComparison().isEqualTo(rtc());
        CmosRtc dev = new CmosRtc(Clock.fixed(Instant.parse("2026-01-01T00:00:00Z"), ZoneOffset.UTC), 256L << 20, 0);
        CmosRtcDeviceState.apply(DeviceState.of("rtc", CmosRtcDeviceState.encode(rtc())), dev);
        assertThat(dev.guestTimeOffset().toNanos()).isEqualTo(-123_456_789_000L);
        assertThat(dev.cmosByte(0x15)).isEqualTo((0x15 * 7) & 0xff);
    }

    @Test
    void pciHostRoundTrip() {
        PciRoot root = new PciRoot();
        PciConfigIo io = new PciConfigIo(root);
        io.write(0, 4, 0x8000_0804L);
        PciConfigSpace bridge = root.device(0, 0, 0).orElseThrow().config();
        bridge.write(PciConfigSpace.COMMAND, 2, PciConfigSpace.COMMAND_MEMORY);
        DeviceState d = PciHostDeviceState.capture("pci_host", io, bridge);

        PciRoot root2 = new PciRoot();
        PciConfigIo io2 = new PciConfigIo(root2);
        PciConfigSpace bridge2 = root2.device(0, 0, 0).orElseThrow().config();
        PciHostDeviceState.apply(d, io2, bridge2);
        assertThat(io2.address()).isEqualTo(0x8000_0804);
        assertThat(bridge2.command()).isEqualTo(PciConfigSpace.COMMAND_MEMORY);
    }

    @Test
    void pciConfigWithOtherReadOnlyBitsIsRefused() {
        PciConfigSpace bridge = new PciHostBridge().config();
        byte[] b = bridge.bytes();
        b[PciConfigSpace.DEVICE_ID] ^= 1;
        assertThatThrownBy(() -> new PciHostBridge().config().restoreBytes(b)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("byte 0x02");
    }

    @Test
    void acpiPmRoundTripAndRefusal() {
        AcpiPmDeviceState.apply(AcpiPmDeviceState.capture("acpi_pm"));
        assertThatThrownBy(() -> AcpiPmDeviceState.apply(DeviceState.of("acpi_pm", new byte[] {2})))
                .isInstanceOf(SnapshotException.class).hasMessageContaining("ACPI PM state version 2");
    }

    @Test
    void virtioPciRoundTrip() {
        VirtioPciState s = VirtioPciDeviceState.decode("virtio0", VirtioPciDeviceState.encode(virtio()));
        assertThat(s).usingRecursiveComparison().isEqualTo(virtio());
    }

    @Test
    void vmConfigRoundTripAndCompatibility() {
        VmConfig c = VmConfigState.decode(VmConfigState.capture(vmConfig()));
        assertThat(c).isEqualTo(vmConfig());
        assertThat(VmConfigState.incompatibility(c, vmConfig())).isNull();
        VmConfig fewerCpus = new VmConfig(c.kernel(), c.initrd(), c.cmdline(), 1, c.memoryBytes(), c.onReboot(), false, c.devices());
        assertThat(VmConfigState.incompatibility(c, fewerCpus)).contains("2 vCPUs");
        VmConfig noDisks = c.withDevices(new DeviceConfig(List.of(), c.devices().nets(), true, false));
        assertThat(VmConfigState.incompatibility(c, noDisks)).contains("2 disks");
        VmConfig otherMac = c.withDevices(new DeviceConfig(c.devices().disks(),
                List.of(new NetConfig("tap0", MacAddress.parse("52:54:00:12:34:57"))), true, false));
        assertThat(VmConfigState.incompatibility(c, otherMac)).contains("MAC");
    }

    @Test
    void truncatedAndVersionedEncodingsAreRefusedNamingTheDevice() {
        byte[] v = VirtioPciDeviceState.encode(virtio());
        assertThatThrownBy(() -> VirtioPciDeviceState.decode("virtio0", java.util.Arrays.copyOf(v, v.length - 1)))
                .isInstanceOf(SnapshotException.class).hasMessageContaining("device virtio0").hasMessageContaining("truncated");
        v[0] = 9;
        assertThatThrownBy(() -> VirtioPciDeviceState.decode("virtio0", v))
                .isInstanceOf(SnapshotException.class).hasMessageContaining("virtio-pci state version 9");
    }
}
