package io.jkvm.testing;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.JarFile;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The lab tier's children get a class path of jars only (class data comes from nothing else) and
 * one set of class-data options. Nothing here installs a setup: lab classes running beside this
 * one start JVMs with this JVM's setting.
 */
class ChildJvmTest {
    @TempDir
    Path dir;

    @Test
    void classDirectoriesArePackedAndTheChildrenShareOneArchive() throws Exception {
        assertThat(ChildJvm.options()).as("outside the lab tier: nothing added").isEmpty();
        ChildJvm.Setup setup = ChildJvm.pack(dir);
        String[] cp = setup.classPath().split(File.pathSeparator);
        assertThat(cp).allSatisfy(e -> assertThat(Files.isRegularFile(Path.of(e))).as(e).isTrue());
        assertThat(cp).as("class directories packed into jars under %s", dir)
                .anySatisfy(e -> assertThat(Path.of(e).getParent()).isEqualTo(dir));
        assertThat(cp).anySatisfy(e -> {
            try (JarFile j = new JarFile(e)) {
                assertThat(j.getEntry("io/jkvm/testing/ChildJvmTest.class")).isNotNull();
            }
        });
        assertThat(setup.options()).contains("-XX:SharedArchiveFile=" + dir.resolve("children.jsa"),
                "-XX:+AutoCreateSharedArchive");
        List<String> cmd = JkvmCommand.java(setup.classPath(), setup.options(), "io.jkvm.cli.Main", "--version");
        assertThat(cmd).containsSubsequence(setup.options().getFirst(), "-cp", setup.classPath(), "io.jkvm.cli.Main", "--version");
    }
}
