package io.jkvm.config;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class DisplayConfigTest {
    @Test
    void defaultsAndFields() {
        assertThat(DisplayConfig.parse("")).isEqualTo(new DisplayConfig(1024, 768, 16L << 20));
        assertThat(DisplayConfig.parse(null)).isEqualTo(DisplayConfig.DEFAULT);
        assertThat(DisplayConfig.parse("width=1280,height=800,vram=16M")).isEqualTo(new DisplayConfig(1280, 800, 16L << 20));
        assertThat(DisplayConfig.parse("height=600")).isEqualTo(new DisplayConfig(1024, 600, 16L << 20));
        assertThat(DisplayConfig.parse("vram=64M,width=3840,height=2160")).isEqualTo(new DisplayConfig(3840, 2160, 64L << 20));
    }

    @Test
    void badValuesAreOneLineErrorsNamingTheField() {
        String[][] cases = {
                {"width=abc", "--display width 'abc'"},
                {"width=-5", "--display width '-5'"},
                {"width=99999999999", "--display width"},
                {"width=100", "--display width 100: must be 320..4095"},
                {"height=5000", "--display height 5000"},
                {"vram=3M", "--display vram 3M: must be a power of two"},
                {"vram=24M", "--display vram 24M"},
                {"vram=2G", "--display vram 2G"},
                {"vram=lots", "--display vram:"},
                {"width=1920,height=1080,vram=8M", "needs vram of at least 16M"},
                {"depth=24", "unknown field 'depth'"},
                {"width=800,width=640", "given twice"},
                {"width", "not key=value"},
        };
        for (String[] c : cases) {
            assertThatThrownBy(() -> DisplayConfig.parse(c[0])).as(c[0]).isInstanceOf(ConfigException.class)
                    .hasMessageContaining(c[1]).satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
        }
    }

    @Test
    void theDisplayTakesAPciSlotAndSurvivesDeviceEdits() {
        DeviceConfig d = DeviceConfig.NONE.withDisplay(DisplayConfig.DEFAULT);
        assertThat(d.display()).isEqualTo(DisplayConfig.DEFAULT);
        assertThat(d.count()).as("not a virtio device itself; its keyboard and tablet are").isEqualTo(DeviceConfig.INPUT_DEVICES);
        assertThat(d.withDisks(java.util.List.of()).display()).isEqualTo(DisplayConfig.DEFAULT);
        assertThat(d.withNets(java.util.List.of()).display()).isEqualTo(DisplayConfig.DEFAULT);
        assertThat(d.withVsock(null).withBalloon(null).display()).isEqualTo(DisplayConfig.DEFAULT);
    }
}
