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

/**
 * The configuration record (vm_config) and PCI config-space checks; device states are tested
 * through their registry in {@code io.jkvm.vmm.DeviceStateFormatTest}.
 */
class DeviceStateCodecTest {
    static VmConfig vmConfig() {
        return new VmConfig(Path.of("/boot/vmlinuz"), Optional.of(Path.of("/boot/initrd.img")), "console=ttyS0 root=/dev/vda",
                2, 256L << 20, OnReboot.RESTART, false,
                new DeviceConfig(List.of(new DiskConfig(Path.of("/var/disk.img"), false, "rootfs"),
                        new DiskConfig(Path.of("/var/data.img"), true, null)),
                        List.of(new NetConfig("tap0", MacAddress.parse("52:54:00:12:34:56"))), true, false));
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
    }

}
