package io.jkvm.storage;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A failed migration's source taking its images' locks back while the destination may still hold
 * them: real files and real OFD locks (two opens conflict as two VMMs would).
 */
class ImageLocksTest {
    @TempDir
    Path dir;

    @Test
    void reLockingAnImageAnotherOpenHoldsSaysItIsInUse() throws IOException {
        Path image = Files.write(dir.resolve("disk.raw"), new byte[4096]);
        try (LockedFile source = LockedFile.open(image, false)) {
            source.setLocked(false); // handed to the destination
            try (LockedFile destination = LockedFile.open(image, false)) {
                assertThatThrownBy(() -> source.setLocked(true)).isInstanceOf(ImageInUseException.class)
                        .hasMessageContaining(image.toString());
            }
            source.setLocked(true); // the destination let go
        }
    }

    @Test
    void theLockIsTakenBackOnceTheOtherHolderLetsGo() throws Exception {
        Path image = Files.write(dir.resolve("disk.raw"), new byte[4096]);
        try (LockedFile source = LockedFile.open(image, false)) {
            source.setLocked(false);
            LockedFile destination = LockedFile.open(image, false);
            AtomicInteger attempts = new AtomicInteger();
            ImageLocks.retake(() -> {
                if (attempts.incrementAndGet() == 3) {
                    destination.close(); // the destination's tear-down ends between two attempts
                }
                source.setLocked(true);
            }, 60_000);
            assertThat(attempts).hasValue(3);
            assertThatThrownBy(() -> LockedFile.open(image, false)).as("the source holds it again")
                    .isInstanceOf(ImageInUseException.class);
        }
    }

    @Test
    void aLockStillHeldWhenTheWaitIsOverIsRefused() throws IOException {
        Path image = Files.write(dir.resolve("disk.raw"), new byte[4096]);
        try (LockedFile source = LockedFile.open(image, false)) {
            source.setLocked(false);
            try (LockedFile destination = LockedFile.open(image, false)) {
                AtomicInteger attempts = new AtomicInteger();
                assertThatThrownBy(() -> ImageLocks.retake(() -> {
                    attempts.incrementAndGet();
                    source.setLocked(true);
                }, 0)).isInstanceOf(ImageInUseException.class);
                assertThat(attempts).as("no wait: one attempt").hasValue(1);
            }
        }
    }

    @Test
    void otherFailuresAreNotRetried() {
        AtomicInteger attempts = new AtomicInteger();
        assertThatThrownBy(() -> ImageLocks.retake(() -> {
            attempts.incrementAndGet();
            throw new IOException("disk image gone");
        }, 60_000)).isInstanceOf(IOException.class).hasMessage("disk image gone");
        assertThat(attempts).hasValue(1);
    }

    @Test
    void aNegativeWaitIsRefused() {
        assertThatThrownBy(() -> ImageLocks.retake(() -> { }, -1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("waitMillis");
    }
}
