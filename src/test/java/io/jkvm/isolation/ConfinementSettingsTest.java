package io.jkvm.isolation;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ConfinementSettingsTest {
    @Test
    void defaultsAreSeccompOnAndLandlockAuto() {
        Confinement c = Confinement.of(null, null);
        assertThat(c.seccomp()).isEqualTo(SeccompMode.ON);
        assertThat(c.seccompExplicit()).isFalse();
        assertThat(c.landlock()).isEqualTo(LandlockMode.AUTO);
    }

    @Test
    void aBadValueIsOneLineNamingTheFlag() {
        assertThatThrownBy(() -> Confinement.of("maybe", null)).hasMessage("--seccomp maybe: must be off, log or on");
        assertThatThrownBy(() -> Confinement.of(null, "yes")).hasMessage("--landlock yes: must be off, auto or on");
    }

    @Test
    void givenValuesAreKept() {
        Confinement c = Confinement.of("log", "off");
        assertThat(c.seccomp()).isEqualTo(SeccompMode.LOG);
        assertThat(c.seccompExplicit()).isTrue();
        assertThat(c.landlock()).isEqualTo(LandlockMode.OFF);
    }

    @Test
    void bothOffAppliesNothing() {
        // Safe in the test JVM: with both off not even no_new_privs is set.
        assertThat(Confinement.NONE.apply(() -> {
            throw new AssertionError("no policy is needed");
        })).isEqualTo(new Confinement.Outcome("off", "off", null, null, false));
    }
}
