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

    /** Why this metric cannot run here, or null if it can. */
    String unavailable(BenchContext ctx);

    List<MetricResult> run(BenchContext ctx) throws Exception;
}
