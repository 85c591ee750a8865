package io.jkvm.net;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.assertj.core.api.Assertions.assertThat;

/** Opens a transient TAP (gone when closed); skipped visibly without /dev/net/tun or CAP_NET_ADMIN. */
class TapTest {
    @Test
    void opensWithVnetHeaderAndAcceptsOffloads() {
        Tap tap;
        try {
            tap = Tap.open("jkvmtest%d");
        } catch (IOException e) {
            Assumptions.abort("TAP unavailable here: " + e.getMessage());
            return;
        }
        try (tap) {
            assertThat(tap.name()).startsWith("jkvmtest");
            assertThat(tap.fd()).isPositive();
            assertThat(tap.setOffloads(true, true, true)).isTrue();
            assertThat(tap.setOffloads(false, false, false)).isTrue();
        }
    }
}
