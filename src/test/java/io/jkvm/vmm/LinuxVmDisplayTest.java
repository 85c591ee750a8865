package io.jkvm.vmm;

import io.jkvm.config.DeviceConfig;
import io.jkvm.config.DisplayConfig;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VmConfig;
import io.jkvm.display.DisplayMode;
import io.jkvm.net.MacAddress;
import io.jkvm.net.NetConfig;
import io.jkvm.resources.BucketConfig;
import io.jkvm.resources.RateLimitConfig;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

/** Unit: a VM configured with a display exposes its framebuffer from the start, and edits of other devices keep the display. */
class LinuxVmDisplayTest {
    private static LinuxVm vm(DisplayConfig display) {
        VmConfig c = new VmConfig(Path.of("/boot/vmlinuz"), Optional.empty(), "console=ttyS0", 1, 64L << 20,
                OnReboot.EXIT, false, new DeviceConfig(List.of(), List.of(new NetConfig("tap0", MacAddress.parse("52:54:00:12:34:56"))),
                        false, false).withDisplay(display));
        return new LinuxVm(c, new LinuxVm.Console(new ByteArrayInputStream(new byte[0]), OutputStream.nullOutputStream(), false));
    }

    @Test
    void theFramebufferIsThereBeforeBootAndOff() {
        LinuxVm vm = vm(DisplayConfig.DEFAULT);
        assertThat(vm.framebuffer()).isPresent();
        assertThat(vm.framebuffer().get().mode()).isEqualTo(DisplayMode.OFF);
        assertThat(vm(null).framebuffer()).isEmpty();
    }

    @Test
    void aRateLimitUpdateKeepsTheDisplay() {
        LinuxVm vm = vm(new DisplayConfig(1280, 800, 16L << 20));
        RateLimitConfig rx = new RateLimitConfig(new BucketConfig(1000, 0, 1000), BucketConfig.UNLIMITED);
        vm.updateNetworkRateLimits("tap0", rx, RateLimitConfig.UNLIMITED);
        assertThat(vm.config().devices().display()).isEqualTo(new DisplayConfig(1280, 800, 16L << 20));
    }
}
