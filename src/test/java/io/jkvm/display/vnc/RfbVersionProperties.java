package io.jkvm.display.vnc;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.Size;

class RfbVersionProperties {
    private static int parse(String s) {
        return RfbVersion.parse(s.getBytes(StandardCharsets.ISO_8859_1));
    }

    @Example
    void knownVersions() {
        assertThat(parse("RFB 003.008\n")).isEqualTo(8);
        assertThat(parse("RFB 003.007\n")).isEqualTo(7);
        assertThat(parse("RFB 003.003\n")).isEqualTo(3);
        // Other 3.x versions are spoken as 3.3 (RFC 6143 section 7.1.1).
        assertThat(parse("RFB 003.005\n")).isEqualTo(3);
        assertThat(parse("RFB 003.889\n")).isEqualTo(3);
        assertThat(parse("RFB 003.002\n")).isEqualTo(-1);
        assertThat(parse("RFB 004.001\n")).isEqualTo(-1);
        assertThat(parse("RFB 003.008\r")).isEqualTo(-1);
        assertThat(parse("GET / HTTP/1")).isEqualTo(-1);
    }

    @Property
    void anyTwelveBytesAreAnsweredWithoutException(@ForAll @Size(12) byte[] message) {
        assertThat(RfbVersion.parse(message)).isIn(-1, 3, 7, 8);
    }
}
