package io.jkvm.snapshot;

import io.jkvm.config.BalloonConfig;
import io.jkvm.config.DeviceConfig;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VirtioTransport;
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
import io.jkvm.resources.BucketConfig;
import io.jkvm.resources.RateLimitConfig;
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

/**
 * The configuration record (vm_config) and PCI config-space checks; device states are tested
 * through their registry in {@code io.jkvm.vmm.DeviceStateFormatTest}.
 */
class DeviceStateCodecTest {
    /** A bandwidth size no other field of {@link #vmConfig} has, so a test can find it in the encoding. */
    static final long MARKED_SIZE = 0x1122_3344_5566_7788L;
    static final RateLimitConfig DISK_LIMIT = new RateLimitConfig(new BucketConfig(MARKED_SIZE, 4096, 100),
            new BucketConfig(1000, 0, 1000));
    static final RateLimitConfig RX_LIMIT = new RateLimitConfig(new BucketConfig(125_000, 0, 1000), BucketConfig.UNLIMITED);
    static final RateLimitConfig TX_LIMIT = new RateLimitConfig(BucketConfig.UNLIMITED, new BucketConfig(100, 10, 1000));

    static VmConfig vmConfig() {
        return new VmConfig(Path.of("/boot/vmlinuz"), Optional.of(Path.of("/boot/initrd.img")), "console=ttyS0 root=/dev/vda",
                2, 256L << 20, OnReboot.RESTART, false,
                new DeviceConfig(List.of(new DiskConfig(Path.of("/var/disk.img"), false, "rootfs", DISK_LIMIT),
                        new DiskConfig(Path.of("/var/data.img"), true, null)),
                        List.of(new NetConfig("tap0", MacAddress.parse("52:54:00:12:34:56"), RX_LIMIT, TX_LIMIT)), true,
                        false));
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
        VmConfig otherLimits = c.withDevices(new DeviceConfig(List.of(new DiskConfig(Path.of("/var/disk.img"), false,
                "rootfs"), c.devices().disks().get(1)), c.devices().nets(), true, false));
        assertThat(VmConfigState.incompatibility(c, otherLimits)).as("limits are not guest-visible").isNull();
    }

    @Test
    void theBalloonIsRecordedAndASnapshotWithoutOneReadsAsNone() {
        VmConfig withBalloon = vmConfig().withDevices(vmConfig().devices().withBalloon(new BalloonConfig(64, true, 5)));
        VmConfig c = VmConfigState.decode(VmConfigState.capture(withBalloon));
        assertThat(c).isEqualTo(withBalloon);
        assertThat(VmConfigState.incompatibility(c, withBalloon)).isNull();
        assertThat(VmConfigState.incompatibility(c, vmConfig())).contains("has balloon");
        VmConfig noStats = vmConfig().withDevices(vmConfig().devices().withBalloon(new BalloonConfig(64, true, 0)));
        assertThat(VmConfigState.incompatibility(c, noStats)).contains("statistics");
        VmConfig otherTarget = vmConfig().withDevices(vmConfig().devices().withBalloon(new BalloonConfig(8, true, 1)));
        assertThat(VmConfigState.incompatibility(c, otherTarget)).as("the target is the device state's").isNull();
        // Before the balloon the record ended after the transport.
        byte[] b = VmConfigState.capture(vmConfig()).bytes();
        assertThat(VmConfigState.decode(DeviceState.of(VmConfigState.NAME, java.util.Arrays.copyOf(b, b.length - 1))))
                .isEqualTo(vmConfig());
    }

    @Test
    void theVirtioTransportIsRecordedAndAMismatchRefusedNamingBoth() {
        VmConfig mmio = vmConfig().withVirtioTransport(VirtioTransport.MMIO);
        VmConfig c = VmConfigState.decode(VmConfigState.capture(mmio));
        assertThat(c.virtioTransport()).isEqualTo(VirtioTransport.MMIO);
        assertThat(VmConfigState.incompatibility(c, mmio)).isNull();
        assertThat(VmConfigState.incompatibility(c, vmConfig())).contains("on mmio").contains("on pci")
                .contains("--virtio-transport mmio");
        assertThat(VmConfigState.incompatibility(vmConfig(), mmio)).contains("on pci").contains("on mmio");

        // A snapshot from before virtio-mmio ends after the vsock flag (and the formats): its devices
        // were on PCI. The last three bytes are the transport, the (absent) balloon's flag and the
        // (absent) CPU template's flag.
        DeviceState d = VmConfigState.capture(vmConfig());
        byte[] b = d.bytes();
        VmConfig old = VmConfigState.decode(DeviceState.of(d.name(), java.util.Arrays.copyOf(b, b.length - 3)));
        assertThat(old.virtioTransport()).isEqualTo(VirtioTransport.PCI);
        assertThat(old).isEqualTo(vmConfig());
        byte[] bad = b.clone();
        bad[bad.length - 3] = 7;
        assertThatThrownBy(() -> VmConfigState.decode(DeviceState.of(d.name(), bad))).isInstanceOf(SnapshotException.class)
                .hasMessageContaining("virtio transport");
        assertThat(VmConfigState.decode(DeviceState.of(d.name(), java.util.Arrays.copyOf(b, b.length - 1))))
                .isEqualTo(vmConfig()); // from before CPU templates: none
    }

    @Test
    void rateLimitsSurviveTheRoundTripAndBadOnesAreRefusedNamingTheField() {
        VmConfig c = VmConfigState.decode(VmConfigState.capture(vmConfig()));
        assertThat(c.devices().disks().get(0).rateLimit()).isEqualTo(DISK_LIMIT);
        assertThat(c.devices().disks().get(1).rateLimit()).isEqualTo(RateLimitConfig.UNLIMITED);
        assertThat(c.devices().nets().get(0).rxRateLimit()).isEqualTo(RX_LIMIT);
        assertThat(c.devices().nets().get(0).txRateLimit()).isEqualTo(TX_LIMIT);

        DeviceState d = VmConfigState.capture(vmConfig());
        byte[] b = d.bytes();
        int at = indexOfLong(b, MARKED_SIZE);
        b[at] |= (byte) 0x80; // the sign bit of the bucket size, wherever the byte order puts it
        b[at + 7] |= (byte) 0x80;
        assertThatThrownBy(() -> VmConfigState.decode(DeviceState.of(d.name(), b))).isInstanceOf(SnapshotException.class)
                .hasMessageContaining("disk rate limit");
    }

    private static int indexOfLong(byte[] b, long v) {
        for (int i = 0; i + 8 <= b.length; i++) {
            long le = 0;
            long be = 0;
            for (int k = 0; k < 8; k++) {
                le |= (b[i + k] & 0xffL) << (8 * k);
                be = be << 8 | (b[i + k] & 0xffL);
            }
            if (le == v || be == v) {
                return i;
            }
        }
        throw new AssertionError("value not found in the encoding");
    }

}
