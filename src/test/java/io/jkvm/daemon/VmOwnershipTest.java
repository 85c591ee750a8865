package io.jkvm.daemon;

import io.jkvm.api.Drive;
import io.jkvm.api.EventLog;
import io.jkvm.api.FullVmConfiguration;
import io.jkvm.isolation.UidRange;
import io.jkvm.isolation.VmIdentity;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * What {@link VmOwnership} refuses, decided on the file it would change: a symbolic link, a
 * FIFO (without blocking: nothing of it is opened) and a hard-linked file are refused naming
 * the field, and a file renamed away and replaced by a link after it was opened is still the
 * one changed, not the link's target. Changes go to this process's own uid and gid, so no
 * privilege is needed; the files are under /dev/shm (a tmpfs; in the lab /tmp is 9p).
 */
class VmOwnershipTest {
    private static final UidRange RANGE = new UidRange(4200, 4300);
    private static final VmIdentity VM = new VmIdentity(4242, 4242);

    private Path dir;

    @BeforeEach
    void setUp() throws IOException {
        dir = Files.createTempDirectory(Path.of("/dev/shm"), "jkvm-own-");
    }

    @AfterEach
    void cleanUp() throws IOException {
        try (Stream<Path> all = Files.walk(dir)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    private static FullVmConfiguration withDisk(Path disk) {
        Drive d = new Drive("root", disk.toString(), true, false, null, null, null, null, null);
        return new FullVmConfiguration(null, null, List.of(d), null, null, null, null, null);
    }

    private static String mode(Path p) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void aSymbolicLinkInPlaceOfTheDiskIsRefusedAndItsTargetLeftAlone() throws IOException {
        Path target = Files.writeString(dir.resolve("victim"), "x");
        Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-r--r--"));
        Path disk = Files.createSymbolicLink(dir.resolve("disk.img"), target);

        assertThatThrownBy(() -> VmOwnership.handOver(withDisk(disk), VM, RANGE, dir.resolve("state")))
                .isInstanceOfSatisfying(DaemonException.class, e -> assertThat(e.status()).isEqualTo(400))
                .hasMessageContaining("drives.root.path_on_host " + dir.toRealPath().resolve("disk.img"))
                .hasMessageContaining("must be a regular file, not a link or a device");
        assertThat(mode(target)).isEqualTo("rw-r--r--");
    }

    @Test
    void aFifoIsRefusedWithoutBlocking() throws Exception {
        Path fifo = dir.resolve("fifo");
        assertThat(new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start().waitFor()).isZero();

        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> assertThatThrownBy(
                () -> VmOwnership.handOver(withDisk(fifo), VM, RANGE, dir.resolve("state")))
                .isInstanceOf(DaemonException.class)
                .hasMessageContaining("must be a regular file, not a link or a device"));
    }

    @Test
    void aHardLinkedFileIsRefused() throws IOException {
        Path disk = Files.writeString(dir.resolve("disk.img"), "x");
        Files.createLink(dir.resolve("other-name"), disk);

        assertThatThrownBy(() -> VmOwnership.handOver(withDisk(disk), VM, RANGE, dir.resolve("state")))
                .isInstanceOf(DaemonException.class)
                .hasMessageContaining("has other hard links; give the VM a file of its own");
    }

    @Test
    void aFileSwappedForALinkAfterItWasOpenedIsNotTheOneChanged() throws IOException {
        int uid = (Integer) Files.getAttribute(dir, "unix:uid");
        int gid = (Integer) Files.getAttribute(dir, "unix:gid");
        Path disk = Files.writeString(dir.resolve("disk.img"), "x");
        Files.setPosixFilePermissions(disk, PosixFilePermissions.fromString("rw-r--r--"));
        Path victim = Files.writeString(dir.resolve("victim"), "y");
        Files.setPosixFilePermissions(victim, PosixFilePermissions.fromString("rw-r--r--"));

        try (VmOwnership.DriveFile held = VmOwnership.DriveFile.open(dir, disk.getFileName())) {
            assertThat(held.stat().isRegularFile()).isTrue();
            // The swap a hostile client would race in between the check and the change.
            Path away = Files.move(disk, dir.resolve("disk.old"));
            Files.createSymbolicLink(disk, victim);

            held.giveTo(uid, gid, 0600);

            assertThat(mode(away)).as("the file that was checked").isEqualTo("rw-------");
            assertThat(mode(victim)).as("the link's target").isEqualTo("rw-r--r--");
        }
    }

    @Test
    void takeBackLeavesALinkAndItsTargetAlone() throws IOException {
        Path target = Files.writeString(dir.resolve("victim"), "x");
        Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-r--r--"));
        Path disk = Files.createSymbolicLink(dir.resolve("disk.img"), target);
        int owner = (Integer) Files.getAttribute(target, "unix:uid");
        java.io.ByteArrayOutputStream logged = new java.io.ByteArrayOutputStream();

        VmOwnership.takeBack(withDisk(disk), owner, new EventLog("test", logged, EventLog.Level.INFO));

        assertThat(logged.toString()).as("a link is passed over, not a failure").isEmpty();
        assertThat(Files.getAttribute(target, "unix:uid")).isEqualTo(owner);
        assertThat(mode(target)).isEqualTo("rw-r--r--");
    }
}
