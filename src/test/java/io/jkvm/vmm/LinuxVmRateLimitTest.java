package io.jkvm.vmm;

import io.jkvm.config.DeviceConfig;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VmConfig;
import io.jkvm.net.MacAddress;
import io.jkvm.net.NetConfig;
import io.jkvm.resources.BucketConfig;
import io.jkvm.resources.RateLimitConfig;
import io.jkvm.snapshot.VmConfigState;
import io.jkvm.storage.DiskConfig;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A VM's rate limits as its owner changes them (no machine needed): an update replaces the
 * configuration later boots and snapshots use, and the limits show in the metrics.
 */
class LinuxVmRateLimitTest {
    private static final RateLimitConfig DISK = new RateLimitConfig(new BucketConfig(4096, 0, 100), BucketConfig.UNLIMITED);
    private static final RateLimitConfig RX = new RateLimitConfig(new BucketConfig(1000, 0, 1000), BucketConfig.UNLIMITED);
    private static final RateLimitConfig TX = new RateLimitConfig(BucketConfig.UNLIMITED, new BucketConfig(10, 0, 1000));

    private static LinuxVm vm() {
        VmConfig c = new VmConfig(Path.of("/boot/vmlinuz"), Optional.empty(), "console=ttyS0", 1, 64L << 20,
                OnReboot.EXIT, false, new DeviceConfig(List.of(new DiskConfig(Path.of("/var/disk.img"), false, "rootfs", DISK)),
                        List.of(new NetConfig("tap0", MacAddress.parse("52:54:00:12:34:56"))), false, false));
        return new LinuxVm(c, new LinuxVm.Console(new ByteArrayInputStream(new byte[0]), OutputStream.nullOutputStream(),
                false));
    }

    @Test
    void updatesReplaceTheConfigurationThatBootsAndSnapshotsUse() {
        LinuxVm vm = vm();
        assertThat(vm.metrics().rateLimiters()).as("only limiters that limit").containsOnlyKeys("drive/rootfs");

        vm.updateNetworkRateLimits("tap0", RX, TX);
        NetConfig n = vm.config().devices().nets().getFirst();
        assertThat(n.rxRateLimit()).isEqualTo(RX);
        assertThat(n.txRateLimit()).isEqualTo(TX);
        assertThat(n.mac()).isEqualTo(MacAddress.parse("52:54:00:12:34:56"));
        assertThat(VmConfigState.decode(VmConfigState.capture(vm.config())).devices().nets().getFirst().rxRateLimit())
                .as("what a snapshot records").isEqualTo(RX);
        assertThat(vm.metrics().rateLimiters()).containsOnlyKeys("drive/rootfs", "net/52:54:00:12:34:56/rx",
                "net/52:54:00:12:34:56/tx");

        vm.updateDiskRateLimit("rootfs", RateLimitConfig.UNLIMITED);
        assertThat(vm.config().devices().disks().getFirst().rateLimit()).isEqualTo(RateLimitConfig.UNLIMITED);
        assertThat(vm.metrics().rateLimiters()).doesNotContainKey("drive/rootfs");
    }

    @Test
    void unknownDevicesAreRefused() {
        LinuxVm vm = vm();
        assertThatThrownBy(() -> vm.updateNetworkRateLimits("tap9", RX, TX)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("tap9");
        assertThatThrownBy(() -> vm.updateDiskRateLimit("data", DISK)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("data");
    }
}
