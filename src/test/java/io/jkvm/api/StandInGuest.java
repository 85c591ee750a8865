package io.jkvm.api;

import io.jkvm.config.HostLimits;
import io.jkvm.config.OnReboot;
import io.jkvm.display.Framebuffer;
import io.jkvm.vmm.VmMetrics;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;

/**
 * A guest that never runs, for tests of the API above the VMM: InstanceStart "launches" it,
 * pause/resume/Ctrl+Alt+Del are accepted, metrics are fixed numbers.
 */
final class StandInGuest implements RunningGuest {
    private final int cpus;
    private final Framebuffer screen;

    private StandInGuest(int cpus, Framebuffer screen) {
        this.cpus = cpus;
        this.screen = screen;
    }

    /**
     * A file that passes the boot source's checks (the ELF magic, nothing to boot): what a
     * stand-in guest is "booted" from. Written as {@code dir/vmlinux}.
     */
    static Path kernelFile(Path dir) throws IOException {
        byte[] elf = new byte[64];
        elf[0] = 0x7f;
        elf[1] = 'E';
        elf[2] = 'L';
        elf[3] = 'F';
        return Files.write(dir.resolve("vmlinux"), elf);
    }

    /** A launcher of stand-ins; {@code onLaunch} runs at each launch (counting them, say). */
    static GuestLauncher launcher(Runnable onLaunch) {
        return spec -> {
            onLaunch.run();
            return new StandInGuest(spec.config().cpus(), null);
        };
    }

    /** A launcher of stand-ins whose display shows {@code screen}. */
    static GuestLauncher withScreen(Framebuffer screen) {
        return spec -> new StandInGuest(spec.config().cpus(), screen);
    }

    /** A router over a fresh controller (host: 4 vCPUs, 8 GiB) whose guests are stand-ins. */
    static ApiRouter router(String id, Runnable onLaunch) {
        return router(id, launcher(onLaunch));
    }

    /** A router over a fresh controller (host: 4 vCPUs, 8 GiB) whose guests {@code launcher} makes. */
    static ApiRouter router(String id, GuestLauncher launcher) {
        EventLog quiet = new EventLog(id, new ByteArrayOutputStream(), null);
        return new ApiRouter(new VmmController(id, new HostLimits(4, 8L << 30), launcher, quiet, OnReboot.EXIT), quiet);
    }

    @Override
    public Optional<Framebuffer> framebuffer() {
        return Optional.ofNullable(screen);
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
