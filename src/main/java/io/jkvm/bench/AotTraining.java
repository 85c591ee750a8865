package io.jkvm.bench;

import io.jkvm.config.VmConfig;
import io.jkvm.image.DefaultImage;
import io.jkvm.snapshot.SnapshotKey;
import io.jkvm.snapshot.Snapshots;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.function.ToIntFunction;

/**
 * The training run for jkvm's AOT cache: exercise what every VM start loads (picocli, config
 * validation, the boot protocol, ACPI tables, the machine, FFM downcalls, the vCPU loop, exit
 * dispatch), so the cache holds those classes already loaded and linked, plus their profiles.
 */
public final class AotTraining {
    /** How long {@code jkvm run} may go before the training stops it (JVM exit writes the cache). */
    private static final Duration RUN_FOR = Duration.ofSeconds(4);

    private AotTraining() {}

    /** {@code cli} runs a jkvm command line and returns its exit status. */
    public static void run(ToIntFunction<String[]> cli) throws Exception {
        boolean kvm = io.jkvm.kvm.KvmDevice.whyUnusable().isEmpty();
        if (BenchGuest.unavailable() == null && kvm) {
            Path dir = Files.createTempDirectory("jkvm-train");
            try {
                byte[] image = Files.readAllBytes(BenchGuest.build(dir, "train", BenchGuest.Kind.PIO, 6400, 0));
                for (int i = 0; i < 3; i++) {
                    try (JkvmGuest g = JkvmGuest.create(image, 2 << 20, true, java.io.OutputStream.nullOutputStream())) {
                        g.runTimed(Duration.ofSeconds(60));
                        if (i == 2) {
                            trainSnapshot(g, dir);
                        }
                    }
                }
                try {
                    trainMigration(dir);
                } catch (Exception e) { // best effort: the cache is still worth having without it
                    System.err.println("jkvm: AOT training: the loopback migration failed: " + e);
                }
            } finally {
                deleteTree(dir);
            }
        }
        Optional<Path> kernel = DefaultImage.defaultKernel();
        if (kernel.isEmpty() || !kvm) {
            return;
        }
        Path initrd = DefaultImage.defaultOutput(io.jkvm.image.KernelVersion.of(kernel.get()));
        String[] args = Files.isRegularFile(initrd)
                ? new String[] {"run", "--kernel", kernel.get().toString(), "--initrd", initrd.toString(), "--cpus", "1",
                        "--memory", "256M", "--cmdline", VmConfig.DEFAULT_CMDLINE + " jkvm.demo"}
                : new String[] {"run", "--kernel", kernel.get().toString(), "--cpus", "1", "--memory", "256M"};
        // Unconfined: this JVM runs with -XX:AOTCacheOutput, and at exit it writes the cache under
        // target/ and starts a child JVM to assemble it, which Landlock and the seccomp filter
        // (no execve, no fork) would refuse. The policy and the filter are still built, so their
        // classes are in the cache.
        args = java.util.stream.Stream.concat(java.util.Arrays.stream(args),
                java.util.stream.Stream.of("--seccomp", "off", "--landlock", "off")).toArray(String[]::new);
        io.jkvm.isolation.SeccompFilter.program(io.jkvm.isolation.SeccompMode.ON);
        io.jkvm.isolation.LandlockAbi.probe();
        new io.jkvm.isolation.LandlockPolicy(io.jkvm.isolation.JvmPaths.rules()).allows(kernel.get(),
                io.jkvm.isolation.LandlockPolicy.Access.READ);
        // Where stock kernels run, this boots and powers off; on a PVM host the kernel never gets
        // far. Either way the run ends within RUN_FOR: the JVM exits and the cache is written.
        Thread.ofPlatform().daemon().start(() -> {
            try {
                Thread.sleep(RUN_FOR);
            } catch (InterruptedException e) {
                return;
            }
            System.exit(0);
        });
        cli.applyAsInt(args);
    }

    /** Save and restore (snapshot, HMAC, mapping the memory file) are on the restore path users time. */
    private static void trainSnapshot(JkvmGuest g, Path dir) throws IOException {
        byte[] key = new byte[32];
        new java.security.SecureRandom().nextBytes(key);
        SnapshotKey k = SnapshotKey.of(key);
        Path state = dir.resolve("train.state");
        Path mem = dir.resolve("train.mem");
        Snapshots.save(g.machine(), java.util.List.of(), state, mem, k);
        try (JkvmGuest r = JkvmGuest.restore(state, mem, k, java.io.OutputStream.nullOutputStream())) {
            r.machine().vcpus();
        }
    }

    /**
     * A live migration over loopback TLS between two machines of this JVM (certificates made with
     * openssl, as the bench makes them): certificate and key parsing, the JDK's TLS 1.3 and
     * AES-GCM classes, the stream and KVM state capture and restore are then in the cache,
     * already loaded and linked with their profiles, instead of loaded cold inside the first
     * migration a VMM makes (seconds on a slow host). Skipped without openssl.
     */
    private static void trainMigration(Path dir) throws Exception {
        if (!Tools.onPath("openssl")) {
            return;
        }
        long ram = 16L << 20;
        Path image = BenchGuest.build(dir, "train-migrate", BenchGuest.Kind.SPIN, 0, ram);
        io.jkvm.migration.MigrationTls[] tls = MigrateMetric.pki(java.nio.file.Files.createDirectories(dir.resolve("pki")));
        MigrateMetric.jkvm(image, ram, tls[0], tls[1], null, null);
    }

    private static void deleteTree(Path dir) throws IOException {
        try (var w = Files.walk(dir)) {
            w.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
