package io.jkvm.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class VncConfigTest {
    @TempDir
    Path dir;

    @Test
    void aBarePathOrUnixIsAUnixSocket() {
        assertThat(VncConfig.parse("/run/vm/vnc.sock").unixSocket()).isEqualTo(Path.of("/run/vm/vnc.sock"));
        assertThat(VncConfig.parse("unix=/run/vm/vnc.sock").unixSocket()).isEqualTo(Path.of("/run/vm/vnc.sock"));
        assertThat(VncConfig.parse("unix=/run/vm/vnc.sock").password()).isNull();
    }

    @Test
    void tcpTakesTheFirstLineOfThePasswordFileAndNeverShowsIt() throws IOException {
        Path pw = Files.writeString(dir.resolve("pw"), "s3cret\r\nignored\n");
        VncConfig c = VncConfig.parse("tcp=127.0.0.1:5901,password-file=" + pw);
        assertThat(c.host()).isEqualTo("127.0.0.1");
        assertThat(c.port()).isEqualTo(5901);
        assertThat(c.password()).isEqualTo("s3cret");
        assertThat(c.toString()).doesNotContain("s3cret");
        assertThat(VncConfig.parse("tcp=[::1]:5901,password-file=" + pw).host()).isEqualTo("::1");
    }

    @Test
    void tcpWithoutAPasswordAndMalformedValuesAreRefusedNamingVnc() throws IOException {
        Path empty = Files.write(dir.resolve("empty"), new byte[0]);
        Path big = Files.write(dir.resolve("big"), new byte[VncConfig.MAX_PASSWORD_FILE + 1]);
        for (String bad : new String[] {"", "tcp=127.0.0.1:5901", "tcp=127.0.0.1", "tcp=:5901,password-file=" + empty,
            "tcp=h:0,password-file=" + empty, "tcp=h:123456,password-file=" + empty, "tcp=h:59x1,password-file=" + empty,
            "tcp=h:5901,password-file=" + empty, "tcp=h:5901,password-file=" + big,
            "tcp=h:5901,password-file=" + dir.resolve("none"), "unix=/x,password-file=" + empty, "port=5"}) {
            assertThatThrownBy(() -> VncConfig.parse(bad)).as(bad).isInstanceOf(ConfigException.class)
                    .hasMessageContaining("--vnc");
        }
    }
}
