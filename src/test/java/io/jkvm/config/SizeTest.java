package io.jkvm.config;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SizeTest {
    @Test
    void parsesBinarySuffixesInAnyCase() {
        assertThat(Size.parse("512M")).isEqualTo(512L << 20);
        assertThat(Size.parse("2G")).isEqualTo(2L << 30);
        assertThat(Size.parse("2g")).isEqualTo(2L << 30);
        assertThat(Size.parse("1536MiB")).isEqualTo(1536L << 20);
        assertThat(Size.parse("4096K")).isEqualTo(4096L << 10);
        assertThat(Size.parse("64mb")).isEqualTo(64L << 20);
        assertThat(Size.parse("1T")).isEqualTo(1L << 40);
        assertThat(Size.parse("4096")).isEqualTo(4096);
    }

    @Test
    void rejectsMalformedSizesWithTheText() {
        for (String bad : new String[] {"", " ", "M", "12X", "-5M", "1.5G", "0x100", "99999999999999999999G", "G2"}) {
            assertThatThrownBy(() -> Size.parse(bad)).as(bad).isInstanceOf(IllegalArgumentException.class);
        }
        assertThatThrownBy(() -> Size.parse("12X")).hasMessageContaining("'12X' is not a size");
    }

    @Test
    void rejectsOverflow() {
        assertThatThrownBy(() -> Size.parse("9000000000G")).hasMessageContaining("too large");
    }

    @Property
    void formatThenParseIsIdentity(@ForAll @LongRange(min = 1, max = 1L << 50) long bytes) {
        assertThat(Size.parse(Size.format(bytes))).isEqualTo(bytes);
    }
}
