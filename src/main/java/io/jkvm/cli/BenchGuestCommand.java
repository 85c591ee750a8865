package io.jkvm.cli;

import io.jkvm.bench.BenchGuest;
import io.jkvm.bench.JkvmGuest;
import io.jkvm.config.Size;
import io.jkvm.snapshot.SnapshotKey;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/**
 * {@code jkvm bench guest}: runs a benchmark guest image as its own jkvm process (the memory
 * figure measures this process). Debug console (port 0xe9) on stdout; a write of V to port 0xf4
 * exits with status (V << 1) | 1, as QEMU's isa-debug-exit. Internal to the benchmark.
 */
@Command(name = "guest", hidden = true, description = "Run a benchmark guest image (internal to jkvm bench).")
public final class BenchGuestCommand implements Callable<Integer> {
    @Option(names = "--image", paramLabel = "FILE", description = "64 KiB guest image.")
    Path image;

    @Option(names = "--restore", paramLabel = "STATE", description = "Instead of --image: a snapshot state file of a bench guest.")
    Path restore;

    @Option(names = "--restore-memory", paramLabel = "FILE", description = "The snapshot's memory file.")
    Path restoreMemory;

    @Option(names = "--key", paramLabel = "FILE", description = "The snapshot's key file.")
    Path key;

    @Option(names = "--memory", paramLabel = "SIZE", description = "Guest RAM (default: ${DEFAULT-VALUE}).")
    String memory = "128M";

    @Option(names = "--seccomp", paramLabel = "MODE",
            description = "off, log or on: confine this process as a VMM does before its guest runs (default: ${DEFAULT-VALUE}; Landlock stays off).")
    String seccomp = "off";

    @Option(names = "--timed", description = "Print 'nanos N' on stderr: from starting the vCPU to the done port.")
    boolean timed;

    @Override
    public Integer call() throws Exception {
        if (restore != null) {
            if (restoreMemory == null || key == null) {
                throw new UserError("--restore needs --restore-memory and --key");
            }
            if (!"off".equals(seccomp)) {
                throw new UserError("--seccomp is for --image runs");
            }
            try (JkvmGuest g = JkvmGuest.restore(restore, restoreMemory, SnapshotKey.fromFile(key),
                    new FileOutputStream(FileDescriptor.out))) {
                return run(g);
            }
        }
        if (image == null) {
            throw new UserError("--image or --restore is required");
        }
        if (!Files.isRegularFile(image) || Files.size(image) != BenchGuest.SIZE) {
            throw new UserError("--image " + image + ": not a " + BenchGuest.SIZE + "-byte guest image");
        }
        long ram;
        try {
            ram = Size.parse(memory);
        } catch (RuntimeException e) {
            throw new UserError("--memory " + memory + ": " + e.getMessage());
        }
        // In-kernel irqchip as for a real VM: a halted vCPU then waits in the kernel, costing nothing.
        io.jkvm.isolation.Confinement confinement;
        try {
            confinement = io.jkvm.isolation.Confinement.of(seccomp, "off").checked();
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        try (JkvmGuest g = JkvmGuest.create(Files.readAllBytes(image), ram, true,
                new FileOutputStream(FileDescriptor.out))) {
            confinement.apply(() -> null);
            return run(g);
        }
    }

    private int run(JkvmGuest g) throws InterruptedException {
        if (timed) {
            System.err.println("nanos " + g.runTimed(java.time.Duration.ofSeconds(600)));
        } else {
            g.machine().start();
            g.machine().awaitExit();
        }
        return g.doneValue() < 0 ? Cli.EXIT_FAILURE : (g.doneValue() << 1) | 1;
    }
}
