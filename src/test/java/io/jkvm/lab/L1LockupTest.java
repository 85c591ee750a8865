package io.jkvm.lab;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Unit: the lab gives up on a lab machine whose kernel reports a CPU stuck for long, with L1's own words. */
class L1LockupTest {
    @Test
    void aLongSoftLockupIsTheLabsFailureAndAShortOneIsNot() {
        assertThat(L1Lockup.in("[  132.621196] watchdog: BUG: soft lockup - CPU#0 stuck for 104s! [qemu-system-x86:145]\n"))
                .isEqualTo("soft lockup - CPU#0 stuck for 104s! [qemu-system-x86:145]");
        assertThat(L1Lockup.in("[   48.621235] watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [qemu-system-x86:145]\n"))
                .as("a short stall on a loaded machine").isNull();
        assertThat(L1Lockup.in("jkvm-guest: up\n")).isNull();
        assertThat(L1Lockup.in("soft lockup - CPU#1 stuck for 99999999999s! [x]")).as("no number overflow").isNull();
    }
}
