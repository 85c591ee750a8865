package io.jkvm.storage;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class LockedFileTest {
    @TempDir
    Path dir;

    @Test
    void openCheckedAcceptsTheRealPathItWasGiven() throws IOException {
        Path real = Files.write(dir.resolve("base.raw"), new byte[4096]).toRealPath();
        try (LockedFile f = LockedFile.openChecked(real, true)) {
            assertThat(f.length()).isEqualTo(4096);
        }
    }

    /** What a swap between BackingChain's real-path check and the open looks like: the open lands elsewhere. */
    @Test
    void openCheckedRefusesAPathThatLeadsSomewhereElseAndReleasesItsLock() throws IOException {
        Path elsewhere = Files.write(dir.resolve("secret.raw"), new byte[4096]).toRealPath();
        Path swapped = Files.createSymbolicLink(dir.resolve("base.raw"), elsewhere);
        assertThatThrownBy(() -> LockedFile.openChecked(swapped, true)).isInstanceOf(IOException.class)
                .hasMessageContaining("changed while it was being opened").hasMessageContaining(elsewhere.toString());
        try (LockedFile f = LockedFile.open(elsewhere, false)) { // the shared lock was dropped with the descriptor
            assertThat(f.readOnly()).isFalse();
        }
    }
}
