package io.jkvm.resources;

import java.math.BigInteger;

/**
 * {@code a * b / c} for non-negative longs without overflow in the product. Token arithmetic
 * multiplies nanoseconds by bucket sizes, which can exceed 64 bits for large buckets and long
 * refill times; results that do not fit saturate at {@link Long#MAX_VALUE}.
 */
final class MulDiv {
    private MulDiv() {}

    /** floor(a * b / c); a, b >= 0, c > 0. */
    static long floor(long a, long b, long c) {
        long lo = a * b;
        if (Math.multiplyHigh(a, b) == 0 && lo >= 0) {
            return lo / c;
        }
        return saturate(big(a, b).divide(BigInteger.valueOf(c)));
    }

    /** ceil(a * b / c); a, b >= 0, c > 0. */
    static long ceil(long a, long b, long c) {
        long lo = a * b;
        if (Math.multiplyHigh(a, b) == 0 && lo >= 0) {
            return lo / c + (lo % c != 0 ? 1 : 0);
        }
        BigInteger[] qr = big(a, b).divideAndRemainder(BigInteger.valueOf(c));
        return saturate(qr[1].signum() != 0 ? qr[0].add(BigInteger.ONE) : qr[0]);
    }

    private static BigInteger big(long a, long b) {
        return BigInteger.valueOf(a).multiply(BigInteger.valueOf(b));
    }

    private static long saturate(BigInteger v) {
        return v.bitLength() < 64 ? v.longValue() : Long.MAX_VALUE;
    }
}
