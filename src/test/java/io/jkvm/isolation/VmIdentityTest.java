package io.jkvm.isolation;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** --uid and --gid: both or neither, unprivileged numbers, refused naming the flag. */
class VmIdentityTest {
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
}
