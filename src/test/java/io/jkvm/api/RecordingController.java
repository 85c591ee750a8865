package io.jkvm.api;

import io.jkvm.api.VmmAction.ConfigureBootSource;
import io.jkvm.api.VmmAction.ConfigureMachine;
import io.jkvm.config.HostLimits;
import io.jkvm.config.OnReboot;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A VMM controller (id "fc") whose launcher records what InstanceStart would boot and answers
 * with an idle guest: the API's rules and the launched configuration, with no KVM.
 */
final class RecordingController {
    final VmmController vmm;
    final AtomicReference<GuestSpec> launched = new AtomicReference<>();

    RecordingController() {
        EventLog quiet = new EventLog("test", new ByteArrayOutputStream(), null);
        GuestLauncher fake = spec -> {
            launched.set(spec);
            return new IdleGuest();
        };
        vmm = new VmmController("fc", new HostLimits(4, 8L << 30), fake, quiet, OnReboot.EXIT);
    }

    /** A stand-in kernel in {@code dir} as boot source, and one vCPU with 32 MiB. */
    void bootSource(Path dir) throws IOException {
        vmm.handle(new ConfigureBootSource(new BootSource(StandInGuest.kernelFile(dir).toString(), null, "console=ttyS0")));
        vmm.handle(new ConfigureMachine(new MachineConfiguration(1, 32, null, null, null, null)));
    }
}
