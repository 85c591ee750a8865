package io.jkvm.display.vnc;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import org.junit.jupiter.api.Test;

class AuthThrottleTest {
    private static final long S = 1_000_000_000L;

    @Test
    void blocksGrowAfterTheFreeFailuresAndASuccessForgets() throws Exception {
        AuthThrottle t = new AuthThrottle();
        InetAddress a = InetAddress.getByName("192.0.2.1");
        InetAddress b = InetAddress.getByName("192.0.2.2");
        long now = 1000 * S;
        for (int i = 0; i < AuthThrottle.FREE_FAILURES; i++) {
            assertThat(t.allowed(a, now)).isTrue();
            t.failed(a, now);
        }
        assertThat(t.allowed(a, now)).isTrue();
        t.failed(a, now); // 6th: 1 s
        assertThat(t.allowed(a, now + S - 1)).isFalse();
        assertThat(t.allowed(b, now)).isTrue();
        assertThat(t.allowed(a, now + S)).isTrue();
        t.failed(a, now + S); // 7th: 2 s
        assertThat(t.allowed(a, now + 3 * S - 1)).isFalse();
        assertThat(t.allowed(a, now + 3 * S)).isTrue();
        for (int i = 0; i < 20; i++) {
            t.failed(a, now);
        }
        assertThat(t.allowed(a, now + AuthThrottle.MAX_BLOCK_SECONDS * S - 1)).isFalse();
        assertThat(t.allowed(a, now + AuthThrottle.MAX_BLOCK_SECONDS * S)).isTrue();
        t.succeeded(a);
        assertThat(t.allowed(a, now)).isTrue();
    }

    @Test
    void aFullTableKeepsBlockedPeersBlocked() throws Exception {
        AuthThrottle t = new AuthThrottle(4);
        InetAddress a = InetAddress.getByName("192.0.2.1");
        long now = 1000 * S;
        for (int i = 0; i < 12; i++) {
            t.failed(a, now); // blocked for the longest time
        }
        // Other peers fill the table, one failure each, a window apart (the server-wide budget is not the point here).
        for (int i = 0; i < 20; i++) {
            now += AuthThrottle.WINDOW_SECONDS * S;
            t.failed(InetAddress.getByName("198.51.100." + (i + 1)), now);
            if (now - 1000 * S < AuthThrottle.MAX_BLOCK_SECONDS * S) {
                assertThat(t.allowed(a, now)).as("still blocked after %d other peers", i + 1).isFalse();
            }
        }
    }

    @Test
    void addressesOfOneIpv6Slash64AreOnePeer() throws Exception {
        AuthThrottle t = new AuthThrottle();
        long now = 1000 * S;
        for (int i = 0; i <= AuthThrottle.FREE_FAILURES; i++) {
            t.failed(InetAddress.getByName("2001:db8:1:2::" + Integer.toHexString(i + 1)), now);
        }
        assertThat(t.allowed(InetAddress.getByName("2001:db8:1:2:ffff::9"), now)).isFalse();
        assertThat(t.allowed(InetAddress.getByName("2001:db8:1:3::1"), now)).as("another /64").isTrue();
    }

    @Test
    void aThrottledPeerHasOneAttemptInFlight() throws Exception {
        AuthThrottle t = new AuthThrottle();
        InetAddress a = InetAddress.getByName("192.0.2.1");
        long now = 1000 * S;
        for (int i = 0; i < AuthThrottle.FREE_FAILURES; i++) {
            t.failed(a, now);
        }
        assertThat(t.allowed(a, now)).isTrue();
        assertThat(t.allowed(a, now)).as("a second connection while the first answers").isFalse();
        t.failed(a, now); // blocked 1 s, and the attempt is back
        assertThat(t.allowed(a, now + S)).isTrue();
        assertThat(t.allowed(a, now + S)).isFalse();
        // An attempt that never answers gives its place back after a while.
        assertThat(t.allowed(a, now + S + AuthThrottle.ATTEMPT_SECONDS * S)).isTrue();
    }

    @Test
    void manyPeersTogetherGetNoMoreThanTheServerWideBudget() throws Exception {
        AuthThrottle t = new AuthThrottle();
        long now = 1000 * S;
        for (int i = 0; i < AuthThrottle.GLOBAL_FAILURES; i++) {
            InetAddress peer = InetAddress.getByName("198.51.100." + (i + 1));
            assertThat(t.allowed(peer, now)).isTrue();
            t.failed(peer, now);
        }
        InetAddress fresh = InetAddress.getByName("203.0.113.1");
        assertThat(t.allowed(fresh, now + AuthThrottle.WINDOW_SECONDS * S - 1)).isFalse();
        assertThat(t.allowed(fresh, now + AuthThrottle.WINDOW_SECONDS * S)).isTrue();
    }
}
