package io.jkvm.vmm;

import io.jkvm.config.BalloonConfig;
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

/** The balloon's virtio function: after the vsock device, saved under "balloon0", one slot (or mmio window) of its own. */
class BalloonSlotTest {
    private static final BalloonConfig BALLOON = new BalloonConfig(16, true, 1);

    @Test
    void theBalloonComesLastAsBalloon0AndCounts() {
        DeviceConfig d = new DeviceConfig(List.of(), List.of(), true, false, new VsockConfig(3, Path.of("/run/v.sock")), BALLOON);
        assertThat(DeviceManager.virtioIds(d)).containsExactly("rng0", "vsock0", "balloon0");
        assertThat(d.count()).isEqualTo(3);
        assertThat(DeviceManager.virtioIds(d.withBalloon(null))).doesNotContain("balloon0");
        assertThat(d.withVsock(null).balloon()).as("withVsock keeps the balloon").isEqualTo(BALLOON);
    }

    @Test
    void aDisplayBringsAKeyboardAndATabletLast() {
        DeviceConfig d = new DeviceConfig(List.of(), List.of(), true, false, null, BALLOON)
                .withDisplay(io.jkvm.config.DisplayConfig.DEFAULT);
        assertThat(DeviceManager.virtioIds(d)).containsExactly("rng0", "balloon0", "keyboard0", "tablet0");
        assertThat(d.count()).isEqualTo(4);
    }

    @Test
    void itTakesAPciSlot() {
        List<NetConfig> nets = new ArrayList<>();
        for (int i = 0; i < 29; i++) {
            nets.add(new NetConfig("tap" + i, MacAddress.parse(String.format("52:54:00:00:00:%02x", i))));
        }
        assertThatThrownBy(() -> new DeviceConfig(List.of(), nets, false, false, null, BALLOON))
                .isInstanceOf(ConfigException.class).hasMessageContaining("31 slots");
        assertThatThrownBy(() -> new BalloonConfig(1, false, 65536)).isInstanceOf(ConfigException.class);
    }
}
