package io.jkvm.device.virtio;

import java.util.concurrent.atomic.LongAdder;

/**
 * What a virtio device moved, for the metrics: requests and bytes towards the guest ("in": disk
 * reads, received frames) and from it ("out": disk writes, transmitted frames), flushes, and
 * requests refused as malformed. Kept outside the device so the totals survive the device's
 * rebuild on a guest reboot or restore, like its rate limiter. Counting is a few uncontended adds
 * on the device's I/O thread.
 */
public final class IoStats {
    /** The totals at some instant. */
    public record Snapshot(long inCount, long inBytes, long outCount, long outBytes, long flushes, long invalid) {}

    private final LongAdder inCount = new LongAdder();
    private final LongAdder inBytes = new LongAdder();
    private final LongAdder outCount = new LongAdder();
    private final LongAdder outBytes = new LongAdder();
    private final LongAdder flushes = new LongAdder();
    private final LongAdder invalid = new LongAdder();

    /** A request or frame of {@code bytes} reached the guest. */
    public void in(long bytes) {
        inCount.increment();
        inBytes.add(bytes);
    }

    /** A request or frame of {@code bytes} from the guest was carried out. */
    public void out(long bytes) {
        outCount.increment();
        outBytes.add(bytes);
    }

    public void flush() {
        flushes.increment();
    }

    /** The guest sent a request the device refused as malformed (out of range, unsupported, bad shape). */
    public void invalid() {
        invalid.increment();
    }

    public Snapshot snapshot() {
        return new Snapshot(inCount.sum(), inBytes.sum(), outCount.sum(), outBytes.sum(), flushes.sum(), invalid.sum());
    }
}
