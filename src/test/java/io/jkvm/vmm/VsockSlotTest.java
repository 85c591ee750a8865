package io.jkvm.vmm;

import io.jkvm.config.ConfigException;
import io.jkvm.config.DeviceConfig;
import io.jkvm.config.VsockConfig;
import io.jkvm.net.MacAddress;
import io.jkvm.net.NetConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The vsock device's PCI function: last in slot order, saved under the id "vsock0", and one slot of the 31. */
class VsockSlotTest {
    private static final VsockConfig VSOCK = new VsockConfig(3, Path.of("/run/v.sock"));

    @Test
    void theVsockFunctionComesLastAsVsock0() {
        DeviceConfig d = new DeviceConfig(List.of(), List.of(new NetConfig("tap0", MacAddress.parse("52:54:00:12:34:56"))),
                true, true, VSOCK);
        assertThat(DeviceManager.virtioIds(d)).containsExactly("net/52:54:00:12:34:56", "rng0", "console0", "vsock0");
        assertThat(DeviceManager.virtioIds(d.withVsock(null))).doesNotContain("vsock0");
    }

    @Test
    void itTakesASlotOnlyWhenConfigured() {
        List<NetConfig> nets = new ArrayList<>();
        for (int i = 0; i < 29; i++) {
            nets.add(new NetConfig("tap" + i, MacAddress.parse(String.format("52:54:00:00:00:%02x", i))));
        }
        assertThat(new DeviceConfig(List.of(), nets, false, false).nets()).hasSize(29);
        assertThatThrownBy(() -> new DeviceConfig(List.of(), nets, false, false, VSOCK)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("31 slots");
    }
}
