package io.jkvm.testing;

import java.time.Duration;

/**
 * Hang detectors in tests, scaled to the machine the tests run on. A direct-KVM test waits for
 * its guest with a limit that a passing run never comes near on this project's hosts; inside
 * the lab (nested KVM on an emulated CPU) the same steps take many times longer, so the tier
 * running there ({@link TierLauncher}) calibrates a factor when it starts — how much slower a JVM
 * starts there than on the host that launched it — and every limit is multiplied by it.
 * Outside the lab the factor is 1. Budgets that are what a test checks (an idle timeout, a
 * throttle) are not scaled.
 */
public final class Patience {
    /** System property holding the factor (set by {@link TierLauncher}; 1 when absent). */
    public static final String PROPERTY = "jkvm.test.patience";
    private static final double MAX = 100;

    private Patience() {}

    /** The factor: at least 1, at most 100. */
    public static double factor() {
        String v = System.getProperty(PROPERTY);
        if (v == null) {
            return 1;
        }
        try {
            double f = Double.parseDouble(v);
            return Double.isFinite(f) ? Math.max(1, Math.min(MAX, f)) : 1;
        } catch (NumberFormatException e) {
            return 1;
        }
    }

    /** {@code d}, scaled. */
    public static Duration of(Duration d) {
        return Duration.ofNanos((long) (d.toNanos() * factor()));
    }

    /**
     * {@code -Djkvm.migration.io-timeout-ms=...}: how long migration peers wait for each other,
     * scaled as every wait here (a JVM that starts a migration peer passes it on; the lab's own
     * test JVM sets it on itself, {@link io.jkvm.testing.TierLauncher}).
     */
    public static String migrationIoTimeoutOption() {
        return "-D" + MIGRATION_IO_TIMEOUT + "=" + migrationIoTimeoutMillis();
    }

    static final String MIGRATION_IO_TIMEOUT = "jkvm.migration.io-timeout-ms";

    static long migrationIoTimeoutMillis() {
        return Math.min(3_600_000, of(Duration.ofSeconds(60)).toMillis());
    }

    /** {@code n} seconds, scaled. */
    public static Duration seconds(long n) {
        return of(Duration.ofSeconds(n));
    }

    /** {@code n} seconds, scaled, in whole seconds (for {@code TimeUnit.SECONDS} APIs). */
    public static long secondsOf(long n) {
        return seconds(n).toSeconds();
    }

    /**
     * Runs {@code body} under a hang detector of {@code n} seconds, scaled (a JUnit {@code @Timeout}
     * is a constant, the same on a fast host and in a lab several times slower).
     */
    public static void hangDetector(long n, org.junit.jupiter.api.function.Executable body) {
        org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(seconds(n), body);
    }
}
