package io.jkvm.isolation;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** --uid and --gid: both or neither, unprivileged numbers, refused naming the flag. */
class VmIdentityTest {
    @Test
    void aDirectoryIsReadableByTheUserOnlyIfEveryDirectoryAboveLetsItThrough(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp)
            throws Exception {
        VmIdentity vm = new VmIdentity(4242, 4242);
        java.nio.file.Path open = java.nio.file.Files.createDirectories(tmp.resolve("a/b"));
        for (java.nio.file.Path p = open; !p.equals(tmp.getParent()); p = p.getParent()) {
            java.nio.file.Files.setPosixFilePermissions(p, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        org.junit.jupiter.api.Assumptions.assumeTrue(vm.unreadableBy(tmp.getParent()) == null,
                "the temporary directory's own ancestors keep other users out");
        assertThat(vm.unreadableBy(open)).isNull();
        java.nio.file.Files.setPosixFilePermissions(tmp.resolve("a"), java.nio.file.attribute.PosixFilePermissions.fromString("rwx------"));
        assertThat(vm.unreadableBy(open)).contains(tmp.resolve("a") + " is mode 700");
        java.nio.file.Files.setPosixFilePermissions(tmp.resolve("a"), java.nio.file.attribute.PosixFilePermissions.fromString("rwx-----x"));
        assertThat(vm.unreadableBy(open)).as("search permission is enough above").isNull();
        java.nio.file.Files.setPosixFilePermissions(open, java.nio.file.attribute.PosixFilePermissions.fromString("rwx-----x"));
        assertThat(vm.unreadableBy(open)).as("but the directory itself must be listable").contains("is mode 701");
    }

    @Test
    void flagsParseOrAreRefusedNamingTheFlag() {
        assertThat(VmIdentity.parse(null, null)).isNull();
        assertThat(VmIdentity.parse("4242", " 100 ")).isEqualTo(new VmIdentity(4242, 100));
        assertThatThrownBy(() -> VmIdentity.parse("4242", null)).hasMessage("--uid and --gid go together");
        assertThatThrownBy(() -> VmIdentity.parse("0", "5")).hasMessageStartingWith("--uid 0: must be an unprivileged user id");
        assertThatThrownBy(() -> VmIdentity.parse("5", "0")).hasMessageStartingWith("--gid 0: must be an unprivileged group id");
        for (String bad : new String[] {"-1", "x", "", "4294967295", "99999999999", "1e3"}) {
            assertThatThrownBy(() -> VmIdentity.parse(bad, "5")).as(bad).hasMessageStartingWith("--uid " + bad + ": must be a number");
        }
    }

    @Test
    void aUidRangeIsParsedBoundedAndGivesTheLowestFreeId() {
        UidRange r = UidRange.parse("200000-200002");
        assertThat(r).isEqualTo(new UidRange(200000, 200002));
        assertThat(r.firstFree(id -> id == 200000)).isEqualTo(200001);
        assertThat(r.firstFree(id -> true)).isEqualTo(-1);
        assertThat(r.contains(200002)).isTrue();
        assertThat(r.contains(200003)).isFalse();
        for (String bad : new String[] {"", "5", "-5", "5-", "a-b", "10-20", "3000-2000", "2000-99999999999", "1000-9999999"}) {
            assertThatThrownBy(() -> UidRange.parse(bad)).as(bad).hasMessageStartingWith("--vm-uids " + bad + ":");
        }
    }
}
