package io.jkvm.testing;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.jar.JarFile;

import static org.assertj.core.api.Assertions.assertThat;

/** The lab tier's children get a class path of jars only (CDS archives nothing from directories) and one archive. */
class ChildJvmTest {
    @TempDir
    Path dir;

    @AfterEach
    void clear() {
        System.clearProperty(ChildJvm.CLASS_PATH);
        System.clearProperty(ChildJvm.ARCHIVE);
    }

    @Test
    void classDirectoriesArePackedAndTheChildrenShareOneArchive() throws Exception {
        assertThat(ChildJvm.options()).as("outside the lab tier: nothing added").isEmpty();
        int packed = ChildJvm.prepare(dir);
        String[] cp = ChildJvm.classPath().split(File.pathSeparator);
        assertThat(packed).isPositive();
        assertThat(cp).allSatisfy(e -> assertThat(Files.isRegularFile(Path.of(e))).as(e).isTrue());
        assertThat(cp).anySatisfy(e -> {
            try (JarFile j = new JarFile(e)) {
                assertThat(j.getEntry("io/jkvm/testing/ChildJvmTest.class")).isNotNull();
            }
        });
        assertThat(ChildJvm.options()).contains("-XX:SharedArchiveFile=" + dir.resolve("children.jsa"),
                "-XX:+AutoCreateSharedArchive");
        assertThat(JkvmCommand.of("--version")).contains(ChildJvm.classPath());
    }
}
