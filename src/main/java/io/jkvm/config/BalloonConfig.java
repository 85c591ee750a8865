package io.jkvm.config;

/**
 * A virtio-balloon device (virtio 1.2 §5.5; Firecracker's {@code PUT /balloon}).
 *
 * @param amountMib the initial target: MiB the guest is asked to give back
 * @param deflateOnOom offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM (the guest takes pages back before its OOM killer runs)
 * @param statsIntervalS seconds between statistics requests; 0: no statistics (no stats queue)
 */
public record BalloonConfig(int amountMib, boolean deflateOnOom, int statsIntervalS) {
    /** Firecracker's field is a u16. */
    public static final int MAX_STATS_INTERVAL_S = 0xffff;

    public BalloonConfig {
        if (amountMib < 0) {
            throw new ConfigException("balloon amount_mib " + amountMib + " is negative");
        }
        if (statsIntervalS < 0 || statsIntervalS > MAX_STATS_INTERVAL_S) {
            throw new ConfigException("balloon stats_polling_interval_s " + statsIntervalS + " outside 0.."
                    + MAX_STATS_INTERVAL_S);
        }
    }
}
