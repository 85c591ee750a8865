package io.jkvm.api;

import io.jkvm.config.BalloonConfig;
import io.jkvm.device.virtio.VirtioBalloon;

/**
 * The balloon's requests once the guest exists, as Firecracker serves them: {@code PATCH
 * /balloon} (a new target: the device changes its config space and interrupts the driver,
 * virtio 1.2 §5.5.6), {@code PATCH /balloon/statistics} (a new interval; statistics cannot be
 * turned on or off after boot, since the stats queue is a negotiated feature) and {@code GET
 * /balloon/statistics}. Each checks the whole request before the device changes.
 */
final class BalloonHandler {
    /** Firecracker's answer when there is no balloon (BalloonConfigError::DeviceNotFound). */
    static final String NOT_FOUND = "No balloon device found.";

    private final VmmController vmm;
    private final VmConfiguration config;
    private final EventLog log;

    BalloonHandler(VmmController vmm, VmConfiguration config, EventLog log) {
        this.vmm = vmm;
        this.config = config;
        this.log = log;
    }

    private BalloonConfig configured(VmmAction action) {
        BalloonConfig b = config.balloon();
        if (b == null) {
            throw ApiException.badRequest(action.name() + ": " + NOT_FOUND);
        }
        return b;
    }

    void update(VmmAction action, BalloonUpdate u) {
        if (u.amountMib() == null) {
            throw Fields.missing("amount_mib");
        }
        synchronized (vmm) {
            BalloonConfig b = configured(action);
            long mem = config.machine().memSizeMib();
            if (u.amountMib() < 0 || u.amountMib() > mem) {
                throw ApiException.badField("amount_mib", "amount_mib " + u.amountMib()
                        + ": Requested memory should be at most the guest's " + mem + " MiB");
            }
            vmm.liveGuest(action).updateBalloon(u.amountMib(), 0);
            config.recordBalloon(new BalloonConfig(Math.toIntExact(u.amountMib()), b.deflateOnOom(), b.statsIntervalS()));
        }
        log.info("balloon_updated", "id", vmm.id(), "amount_mib", u.amountMib());
    }

    void updateStatistics(VmmAction action, BalloonStatsUpdate u) {
        if (u.statsPollingIntervalS() == null) {
            throw Fields.missing("stats_polling_interval_s");
        }
        long s = u.statsPollingIntervalS();
        synchronized (vmm) {
            BalloonConfig b = configured(action);
            if (s < 0 || s > BalloonConfig.MAX_STATS_INTERVAL_S) {
                throw ApiException.badField("stats_polling_interval_s", "stats_polling_interval_s " + s + ": not 1.."
                        + BalloonConfig.MAX_STATS_INTERVAL_S);
            }
            if (b.statsIntervalS() == 0 || s == 0) {
                throw ApiException.badField("stats_polling_interval_s", "stats_polling_interval_s " + s
                        + ": Statistics cannot be enabled/disabled after activation. (the balloon was configured "
                        + (b.statsIntervalS() == 0 ? "without" : "with") + " statistics)");
            }
            vmm.liveGuest(action).updateBalloon(null, s);
            config.recordBalloon(new BalloonConfig(b.amountMib(), b.deflateOnOom(), (int) s));
        }
        log.info("balloon_statistics_updated", "id", vmm.id(), "stats_polling_interval_s", s);
    }

    BalloonStats statistics(VmmAction action) {
        BalloonConfig b = configured(action);
        if (b.statsIntervalS() == 0) {
            throw ApiException.badRequest(action.name() + ": Statistics for the balloon device are not enabled"
                    + " (stats_polling_interval_s was 0 when it was configured)");
        }
        VirtioBalloon device = vmm.liveGuest(action).balloon();
        if (device == null) {
            throw ApiException.badRequest(action.name() + ": the balloon device is not running");
        }
        return BalloonStats.of(device);
    }
}
