package io.jkvm.bench;

/**
 * One row of the report: a figure measured for jkvm and for one peer in the same run.
 *
 * @param name     stable identifier, e.g. {@code exit_pio_vs_floor}
 * @param title    what a reader sees in the table
 * @param unit     unit of every sample, e.g. {@code us}, {@code ms}, {@code MiB}
 * @param jkvm     jkvm's samples
 * @param peer     the peer's samples
 * @param peerName e.g. {@code qemu} or {@code c-floor}
 * @param note     how it was measured, or what limits it (may be empty)
 */
public record MetricResult(String name, String title, String unit, Stats jkvm, Stats peer, String peerName,
        String note) {

    /** jkvm's median over the peer's: below 1 means jkvm is smaller (faster, leaner). */
    public double ratio() {
        return peer.median() == 0 ? Double.NaN : jkvm.median() / peer.median();
    }
}
