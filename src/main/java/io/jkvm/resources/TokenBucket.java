package io.jkvm.resources;

/**
 * One token bucket's level over time, with Firecracker's semantics (its
 * {@code src/vmm/src/rate_limiter/mod.rs}):
 * <ul>
 *   <li>the bucket starts full ({@code size} tokens) plus the one-time burst, which is spent
 *       first and never refilled;
 *   <li>tokens come back continuously, {@code size} per refill time, never above {@code size};
 *       partial tokens are never lost to rounding at high call rates, nor created twice;
 *   <li>a request larger than the bucket can never fit, so it is let through whenever the bucket
 *       is not in debt: the whole bucket is spent and the excess becomes debt (a negative level)
 *       that refills first. Firecracker empties the bucket and blocks the limiter for
 *       {@code excess / size * refill_time}: the same wait. Requests that cannot be met wait.
 * </ul>
 * Time is passed in (nanoseconds from a {@link NanoClock}); never goes backwards. Not
 * thread-safe: {@link RateLimiter} owns it.
 */
final class TokenBucket {
    /** Lowest level debt saturates at, far below any real request, so arithmetic never wraps. */
    static final long MIN_LEVEL = Long.MIN_VALUE / 2;

    private final BucketConfig config;
    private final long size;
    /** size / refill time in lowest terms: every {@code periodNanos} ns earn exactly {@code periodTokens} tokens. */
    private final long periodTokens;
    private final long periodNanos;
    /** Tokens in the bucket; negative while an oversize request is being paid back. */
    private long level;
    private long burst;
    /**
     * Tokens earned since {@code epoch} are floor((now - epoch) * periodTokens / periodNanos), of
     * which {@code credited} are already in {@link #level}. Counting from a fixed epoch instead
     * of from the last refill loses no fraction of a token to rounding, so the wait
     * {@link #nanosUntil} reports is exact however often the bucket is refilled meanwhile.
     */
    private long epoch;
    private long credited;

    TokenBucket(BucketConfig config, long now) {
        if (!config.limits()) {
            throw new IllegalArgumentException("an unlimited bucket needs no TokenBucket: " + config);
        }
        this.config = config;
        this.size = config.size();
        long g = gcd(size, config.refillNanos());
        this.periodTokens = size / g;
        this.periodNanos = config.refillNanos() / g;
        this.level = size;
        this.burst = config.oneTimeBurst();
        this.epoch = now;
    }

    BucketConfig config() {
        return config;
    }

    long level() {
        return level;
    }

    long burstLeft() {
        return burst;
    }

    /** Adds the tokens earned up to {@code now}, at most up to {@code size}. */
    void refill(long now) {
        if (level >= size) {
            epoch = now; // full: time spent full earns nothing
            credited = 0;
            return;
        }
        long elapsed = now - epoch;
        if (elapsed <= 0) {
            return;
        }
        long earned = MulDiv.floor(elapsed, periodTokens, periodNanos);
        long add = earned - credited;
        if (add >= saturatingSub(size, level)) {
            level = size;
            epoch = now;
            credited = 0;
            return;
        }
        level += add;
        credited = earned;
        // Move the epoch by whole periods (exactly periodTokens each) so the products stay small.
        long periods = credited / periodTokens;
        if (periods > 0) {
            epoch += periods * periodNanos;
            credited -= periods * periodTokens;
        }
    }

    /** Whether {@code tokens} can be taken now (call {@link #refill} first). */
    boolean admits(long tokens) {
        if (tokens <= burst) {
            return true;
        }
        long rest = tokens - burst;
        return rest <= level || (rest > size && level >= 0);
    }

    /** Takes {@code tokens}, burst first; the level may go negative (debt), saturating at {@link #MIN_LEVEL}. */
    void take(long tokens) {
        long fromBurst = Math.min(burst, tokens);
        burst -= fromBurst;
        level = Math.max(MIN_LEVEL, saturatingSub(level, tokens - fromBurst));
    }

    /**
     * Nanoseconds from {@code now} until {@link #admits}{@code (tokens)} holds, or 0 if it does
     * (call {@link #refill}{@code (now)} first). Exact: one nanosecond earlier it would not.
     */
    long nanosUntil(long tokens, long now) {
        if (admits(tokens)) {
            return 0;
        }
        long rest = tokens - burst;
        long target = rest > size ? 0 : rest; // an oversize request waits only for the debt to be paid
        long deficit = saturatingSub(target, level);
        long needed = deficit > Long.MAX_VALUE - credited ? Long.MAX_VALUE : deficit + credited; // earned since the epoch
        long at = MulDiv.ceil(needed, periodNanos, periodTokens);
        return Math.max(1, at - (now - epoch));
    }

    private static long gcd(long a, long b) {
        while (b != 0) {
            long t = a % b;
            a = b;
            b = t;
        }
        return a;
    }

    private static long saturatingSub(long a, long b) {
        long r = a - b;
        if (((a ^ b) & (a ^ r)) < 0) {
            return b > 0 ? Long.MIN_VALUE : Long.MAX_VALUE;
        }
        return r;
    }

    @Override
    public String toString() {
        return "TokenBucket[level=" + level + ", burst=" + burst + ", " + config + "]";
    }
}
