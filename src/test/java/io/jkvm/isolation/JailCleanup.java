package io.jkvm.isolation;

import io.jkvm.testing.Patience;
import io.jkvm.testing.PidsCgroup;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/** What a jailer test leaves: the VMM, its cgroup (the caller's job, as with Firecracker) and the jails' tree. */
final class JailCleanup {
    private JailCleanup() {}

    /**
     * Kills {@code vmm} (when started, >0) and waits for it, removes the cgroup {@code id} the
     * jailer made (when {@code pids} is known) and deletes {@code base} with every jail in it.
     */
    static void after(long vmm, PidsCgroup pids, String id, Path base) throws IOException {
        if (vmm > 0) {
            ProcessHandle.of(vmm).ifPresent(h -> {
                h.destroyForcibly();
                h.onExit().orTimeout(Patience.secondsOf(60), TimeUnit.SECONDS).join();
            });
        }
        if (pids != null) {
            pids.remove("firecracker", id);
        }
        if (base != null) {
            try (Stream<Path> all = Files.walk(base)) { // does not follow the jail's links out of it
                for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
    }
}
