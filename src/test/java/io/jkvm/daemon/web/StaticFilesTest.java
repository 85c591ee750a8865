package io.jkvm.daemon.web;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** Assets are read once and shared: a slow client holds a reference to them, not a copy. */
class StaticFilesTest {
    @Test
    void anAssetIsReadOnceAndSharedByEveryResponse(@TempDir Path dir) throws IOException {
        Files.createDirectories(dir.resolve("lib"));
        Files.writeString(dir.resolve("lib/app.js"), "console.log(1);\n");
        StaticFiles files = new StaticFiles(dir);
        byte[] first = files.asset("lib/app.js").orElseThrow().bytes();
        assertThat(new String(first)).isEqualTo("console.log(1);\n");
        assertThat(files.asset("lib/app.js").orElseThrow().bytes()).isSameAs(first);
        assertThat(files.asset("lib/../lib/app.js")).isEmpty();
        assertThat(files.asset("lib/none.js")).isEmpty();
    }
}
