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
}
