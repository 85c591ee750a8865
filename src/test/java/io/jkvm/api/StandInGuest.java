package io.jkvm.api;

import io.jkvm.config.HostLimits;
import io.jkvm.config.OnReboot;
import io.jkvm.vmm.VmMetrics;

import java.io.ByteArrayOutputStream;
import java.util.Map;

/**
 * A guest that never runs, for tests of the API above the VMM: InstanceStart "launches" it,
 * pause/resume/Ctrl+Alt+Del are accepted, metrics are fixed numbers.
 */
final class StandInGuest implements RunningGuest {
    private final int cpus;

    private StandInGuest(int cpus) {
        this.cpus = cpus;
    }

    /** A launcher of stand-ins; {@code onLaunch} runs at each launch (counting them, say). */
    static GuestLauncher launcher(Runnable onLaunch) {
        return spec -> {
            onLaunch.run();
            return new StandInGuest(spec.config().cpus());
        };
    }

    /** A router over a fresh controller (host: 4 vCPUs, 8 GiB) whose guests are stand-ins. */
    static ApiRouter router(String id, Runnable onLaunch) {
        EventLog quiet = new EventLog(id, new ByteArrayOutputStream(), null);
        return new ApiRouter(new VmmController(id, new HostLimits(4, 8L << 30), launcher(onLaunch), quiet, OnReboot.EXIT), quiet);
    }

    @Override
    public void pause() {}

    @Override
    public void resume() {}

    @Override
    public boolean isPaused() {
        return false;
    }

    @Override
    public boolean sendCtrlAltDel() {
        return true;
    }

    @Override
    public VmMetrics metrics() {
        return new VmMetrics(cpus, 1, Map.of("IO", 3L), Map.of(), 1);
    }
}
