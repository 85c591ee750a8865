package io.jkvm.bench;

import java.util.List;

/**
 * One benchmark figure (exit round trip, boot, memory, ...). Each metric measures jkvm and its
 * peers in the same run, interleaved sample by sample so that the noise of this shared machine
 * falls on both alike, and returns one result per peer.
 */
public interface Metric {
    /** Short name for --metrics, e.g. {@code exit-pio}. */
    String id();

    /**
     * True when this figure runs guests on this host's own KVM (exit round trips, memory, restore,
     * migration), as opposed to inside the lab. On a host without usable KVM such figures run
     * inside the lab instead, and are labelled so.
     */
    default boolean direct() {
        return false;
    }

    /** Why this metric cannot run here, or null if it can. */
    String unavailable(BenchContext ctx);

    List<MetricResult> run(BenchContext ctx) throws Exception;
}
