package io.jkvm.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class VmConfigValidatorTest {
    private final VmConfigValidator v = new VmConfigValidator(new HostLimits(8, 4L << 30));

    private static Path fakeBzImage(Path dir) throws IOException {
        byte[] b = new byte[0x400];
        b[0x202] = 'H';
        b[0x203] = 'd';
        b[0x204] = 'r';
        b[0x205] = 'S';
        return Files.write(dir.resolve("bzImage"), b);
    }

    @Test
    void acceptsAGoodConfiguration(@TempDir Path dir) throws IOException {
        VmConfig c = v.validate(fakeBzImage(dir), null, "console=ttyS0", 2, "512M", OnReboot.EXIT, false);
        assertThat(c.cpus()).isEqualTo(2);
        assertThat(c.memoryBytes()).isEqualTo(512L << 20);
        assertThat(c.initrd()).isEmpty();
    }

    @Test
    void namesTheBadSetting(@TempDir Path dir) throws IOException {
        Path k = fakeBzImage(dir);
        Path text = Files.writeString(dir.resolve("notes.txt"), "hello");
        assertThatThrownBy(() -> v.validate(dir.resolve("nope"), null, "", 1, "512M", OnReboot.EXIT, false))
                .hasMessage("--kernel " + dir.resolve("nope") + ": no such file");
        assertThatThrownBy(() -> v.validate(text, null, "", 1, "512M", OnReboot.EXIT, false))
                .hasMessageContaining("not a kernel image");
        assertThatThrownBy(() -> v.validate(dir, null, "", 1, "512M", OnReboot.EXIT, false))
                .hasMessageContaining("is a directory");
        assertThatThrownBy(() -> v.validate(k, dir.resolve("missing.img"), "", 1, "512M", OnReboot.EXIT, false))
                .hasMessageStartingWith("--initrd");
        assertThatThrownBy(() -> v.validate(k, null, "", 0, "512M", OnReboot.EXIT, false))
                .hasMessageStartingWith("--cpus 0: must be between 1 and 8");
        assertThatThrownBy(() -> v.validate(k, null, "", 9, "512M", OnReboot.EXIT, false))
                .hasMessageStartingWith("--cpus 9");
        assertThatThrownBy(() -> v.validate(k, null, "", 1, "lots", OnReboot.EXIT, false))
                .hasMessageStartingWith("--memory lots: 'lots' is not a size");
        assertThatThrownBy(() -> v.validate(k, null, "", 1, "1M", OnReboot.EXIT, false))
                .hasMessageContaining("too small");
        assertThatThrownBy(() -> v.validate(k, null, "", 1, "64G", OnReboot.EXIT, false))
                .hasMessageContaining("more than this host's 4G");
        assertThatThrownBy(() -> v.validate(k, null, "x".repeat(3000), 1, "64M", OnReboot.EXIT, false))
                .hasMessageStartingWith("--cmdline");
    }
}
