package io.jkvm.lab;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LabJobTest {
    @TempDir Path dir;

    @Test
    void scriptPassesArgumentsEnvironmentAndDirectoryExactly() throws Exception {
        List<String> args = List.of("sh", "-c", "printf '%s|' \"$@\" \"$X\" \"$(pwd)\"", "argv0",
                "it's", "two words", "$HOME", "`x`", "back\\slash", "");
        String script = LabJob.script(args, dir, Map.of("X", "a'b \"c\" $d"));
        Path f = dir.resolve("cmd.sh");
        Files.writeString(f, script);
        Process p = new ProcessBuilder("/bin/sh", f.toString()).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).isZero();
        assertThat(out).isEqualTo("it's|two words|$HOME|`x`|back\\slash||a'b \"c\" $d|" + dir.toRealPath() + "|");
    }

    @Test
    void rejectsBadEnvironmentNames() {
        assertThatThrownBy(() -> LabJob.script(List.of("true"), dir, Map.of("A;B", "x")))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void sharesSkipWhatIsAlreadyWritableAndNested() throws Exception {
        Path a = Files.createDirectories(Path.of(System.getProperty("jkvm.home", "."), "target"));
        LabOptions o = LabOptions.defaults().withWorkDir(Path.of("/tmp")).withShares(List.of(a));
        List<LabJob.Share> shares = Lab.shares(o);
        // The project dir covers target/; /tmp is always shared, so a project under /tmp (a CI
        // clone, say) needs no share of its own.
        Path home = Path.of(System.getProperty("jkvm.home", ".")).toRealPath();
        if (home.startsWith(Path.of("/tmp"))) {
            assertThat(shares).isEmpty();
        } else {
            assertThat(shares).extracting(LabJob.Share::path).containsExactly(home);
            assertThat(shares).extracting(LabJob.Share::tag).containsExactly("p0");
        }
    }
}
