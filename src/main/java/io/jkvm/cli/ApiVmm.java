package io.jkvm.cli;

import io.jkvm.api.ApiException;
import io.jkvm.api.ConfigFile;
import io.jkvm.api.ConsoleServer;
import io.jkvm.api.EventLog;
import io.jkvm.api.HttpReply;
import io.jkvm.api.LinuxVmLauncher;
import io.jkvm.api.ApiRouter;
import io.jkvm.api.UdsHttpServer;
import io.jkvm.api.VmmController;
import io.jkvm.config.HostLimits;
import io.jkvm.config.OnReboot;
import io.jkvm.isolation.Confinement;
import io.jkvm.isolation.LandlockPolicy.Access;
import io.jkvm.isolation.LandlockPolicy.Rule;
import io.jkvm.kvm.Kvm;
import io.jkvm.snapshot.SnapshotException;
import io.jkvm.snapshot.SnapshotKey;
import io.jkvm.kvm.NativeException;
import io.jkvm.vmm.LinuxVm;
import io.jkvm.vmm.MachineExit;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * {@code jkvm run --api-sock / --config-file}: the VMM as Firecracker runs it. Serial output goes
 * to stdout (and to console-socket clients), events to stderr as JSON lines (or the logger's
 * file). The process ends when the guest does, with {@code jkvm run}'s exit status; sockets are
 * removed on the way out, including on SIGTERM.
 */
final class ApiVmm {
    /** Idle connections (a stalled client) are closed after this; JKVM_API_IDLE_MS overrides (tests). */
    static final Duration IDLE_TIMEOUT = Duration.ofMillis(envLong("JKVM_API_IDLE_MS", 10_000));

    static long envLong(String name, long dflt) {
        try {
            String v = System.getenv(name);
            return v == null || v.isBlank() ? dflt : Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            return dflt;
        }
    }

    private final Path apiSock;
    private final Path configFile;
    private final Path consoleSock;
    private final String id;
    private final OnReboot onReboot;
    private final Path snapshotKey;

    private final io.jkvm.migration.MigrationTls tls;
    private final io.jkvm.migration.MigrationAddress incoming;
    private boolean trustSourcePaths;
    private java.util.List<io.jkvm.api.VmmAction> initialActions = java.util.List.of();

    ApiVmm(Path apiSock, Path configFile, Path consoleSock, String id, OnReboot onReboot, Path snapshotKey,
            io.jkvm.migration.MigrationTls tls, io.jkvm.migration.MigrationAddress incoming) {
        this.snapshotKey = snapshotKey;
        this.tls = tls;
        this.incoming = incoming;
        this.apiSock = apiSock;
        this.configFile = configFile;
        this.consoleSock = consoleSock;
        this.id = id;
        this.onReboot = onReboot;
    }

    /** See {@link VmmController#setTrustSourcePaths}. */
    ApiVmm trustSourcePaths(boolean trust) {
        trustSourcePaths = trust;
        return this;
    }

    private io.jkvm.resources.VcpuPlacement placement = io.jkvm.resources.VcpuPlacement.NONE;

    /** Where the guest's vCPU threads run (jkvm run's --vcpu-pin, --vcpu-sched, ...). */
    ApiVmm placement(io.jkvm.resources.VcpuPlacement p) {
        placement = p;
        return this;
    }

    private boolean ksm;

    private io.jkvm.config.VirtioTransport transport = io.jkvm.config.VirtioTransport.PCI;

    private io.jkvm.config.DisplayConfig display;
    private io.jkvm.config.VncConfig vnc;

    /** The display every guest of this VMM gets (jkvm run --api-sock --display), and where it is served (--vnc); null: none. */
    ApiVmm display(io.jkvm.config.DisplayConfig d, io.jkvm.config.VncConfig v) {
        display = d;
        vnc = v;
        return this;
    }

    /** Where the guest's virtio devices go (jkvm run --virtio-transport; bin/firecracker: mmio unless --enable-pci). */
    ApiVmm virtioTransport(io.jkvm.config.VirtioTransport t) {
        transport = t;
        return this;
    }

    /** Guest RAM mergeable by the host's KSM (jkvm run's --ksm). */
    ApiVmm ksm(boolean on) {
        ksm = on;
        return this;
    }

    private Confinement confinement = Confinement.NONE;

    /** --seccomp / --landlock, already checked against the kernel: applied when the guest starts. */
    ApiVmm confinement(Confinement c) {
        confinement = c;
        return this;
    }

    /** The jailer's marks (null: not given). */
    private Long startUs;
    private Long startCpuUs;
    private Long parentCpuUs;

    /**
     * The jailer's {@code --start-time-us}, {@code --start-time-cpu-us} and {@code --parent-cpu-time-us}
     * (any may be null): the start-up time they give is logged once the API serves, as Firecracker
     * reports its {@code process_startup_time_us}.
     */
    ApiVmm startTimes(Long startUs, Long startCpuUs, Long parentCpuUs) {
        this.startUs = startUs;
        this.startCpuUs = startCpuUs;
        this.parentCpuUs = parentCpuUs;
        return this;
    }

    private Long mmdsSizeLimit;

    /** {@code --mmds-size-limit} (null: the default, the API's body limit). */
    ApiVmm mmdsSizeLimit(Long bytes) {
        mmdsSizeLimit = bytes;
        return this;
    }

    /** Actions applied before the API serves or the config file is read (logger and metrics from flags). */
    ApiVmm initialActions(java.util.List<io.jkvm.api.VmmAction> actions) {
        initialActions = java.util.List.copyOf(actions);
        return this;
    }

    MachineExit run() throws IOException, InterruptedException {
        // Configuration before environment: a VMM on a host without usable KVM still serves its
        // API and checks its configuration (as Firecracker does); InstanceStart then fails naming
        // the KVM error. The vCPU limit is KVM's when it answers.
        HostLimits limits = HostLimits.beforeKvm();
        String kvmProblem = null;
        try (Kvm kvm = Kvm.open()) {
            limits = new HostLimits(kvm.maxVcpus(), HostLimits.hostMemory());
        } catch (NativeException | IllegalStateException e) {
            kvmProblem = e.getMessage();
        }
        SnapshotKey key = null;
        if (snapshotKey != null) {
            try {
                key = SnapshotKey.fromFile(snapshotKey);
            } catch (SnapshotException e) {
                throw new UserError("--snapshot-key: " + e.getMessage());
            } catch (IOException e) {
                throw new UserError("--snapshot-key " + snapshotKey + ": cannot read: " + e.getMessage());
            }
        }
        EventLog log = EventLog.toStderr("vmm");
        if (kvmProblem != null) {
            log.warn("kvm_unavailable", "error", kvmProblem, "hint", "`jkvm host-check` says why");
        }
        OutputStream stdout = new FileOutputStream(FileDescriptor.out);
        ConsoleServer console = null;
        UdsHttpServer server = null;
        CompletableFuture<MachineExit> exited = new CompletableFuture<>();
        try {
            InputStream in = System.in;
            OutputStream out = stdout;
            if (consoleSock != null) {
                console = ConsoleServer.start(consoleSock, stdout);
                in = console.input();
                out = console.output();
            }
            VmmController[] holder = new VmmController[1];
            LinuxVmLauncher launcher = new LinuxVmLauncher(new LinuxVm.Console(in, out, false), exit -> {
                holder[0].guestExited(exit);
                exited.complete(exit);
            }).placement(placement).ksm(ksm).vnc(vnc);
            VmmController vmm = new VmmController(id, limits, launcher, log, onReboot);
            holder[0] = vmm;
            launcher.beforeFirstStart(confinement.hook(() -> vmmPaths(vmm), o -> {
                vmm.setConfinedTo(o.policy(), o.allThreads());
                if (o.landlockUnavailable()) {
                    log.warn("landlock_unavailable", "error", o.landlockUnavailableReason(),
                            "hint", "continuing without it (--landlock auto)");
                }
                java.util.List<Object> kv = new java.util.ArrayList<>(java.util.List.of("seccomp", o.seccomp(), "landlock",
                        o.landlock(), "us", o.micros()));
                if (o.landlockScope() != null) {
                    kv.addAll(java.util.List.of("landlock_scope", o.landlockScope()));
                }
                log.info("confined", kv.toArray());
            }));
            // kill -USR1: the vCPU report as one event (stderr is a JSON-lines log here).
            io.jkvm.vmm.diag.ReportSignal.install(vmm::vcpuReport,
                    r -> log.info("vcpu_report", "report", io.jkvm.vmm.diag.ReportText.render(r)));
            if (key != null) {
                vmm.setSnapshotKey(key);
            } else {
                vmm.setSnapshotKeySource(HostSnapshotKey.inDefaultPlace());
            }
            vmm.setTrustSourcePaths(trustSourcePaths);
            vmm.setVirtioTransport(transport);
            vmm.setDisplay(display);
            if (mmdsSizeLimit != null) {
                vmm.setMmdsSizeLimit(mmdsSizeLimit);
            }
            if (tls != null) {
                vmm.setMigrationTls(tls);
            }
            for (io.jkvm.api.VmmAction a : initialActions) {
                try {
                    vmm.handle(a);
                } catch (ApiException e) {
                    throw new UserError(e.getMessage());
                }
            }
            javax.net.ssl.SSLServerSocket listener = null;
            if (incoming != null) {
                // Bound before the API answers, so a client that sees the API can start the source.
                listener = tls.listen(incoming);
                log.info("migration_listening", "host", incoming.host(), "port", listener.getLocalPort());
            }
            if (apiSock != null) {
                ApiRouter router = new ApiRouter(vmm, log);
                server = UdsHttpServer.start(apiSock, (method, path, query, body) -> HttpReply.of(router.handle(method, path, body)),
                        8, IDLE_TIMEOUT);
                log.info("api_listening", "id", id, "socket", apiSock, "pid", ProcessHandle.current().pid());
            }
            closeOnExit(server, console);
            logStartup(log, vmm);
            if (configFile != null) {
                try {
                    ConfigFile.apply(ConfigFile.read(configFile), vmm);
                    vmm.handle(new io.jkvm.api.VmmAction.InstanceStart());
                } catch (ApiException e) {
                    throw new UserError(e.getMessage());
                }
            }
            if (listener != null) {
                receiveInBackground(listener, vmm, log, exited);
            }
            MachineExit exit = exited.get();
            // A VM that migrated away: let `jkvm migrate` read the final report before we go.
            vmm.awaitMigrationReport(Duration.ofSeconds(10));
            return exit;
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        } catch (IOException e) {
            throw new UserError(e.getMessage());
        } finally {
            if (server != null) {
                server.close();
            }
            if (console != null) {
                console.close();
            }
        }
    }

    /**
     * What the API side of the VMM still opens once its guest runs, beyond the VM's own files
     * (LandlockPolicy.forVm): the sockets' directories (sockets are removed at exit), the
     * snapshot key or the state directory it is created in, the migration TLS files (read for
     * each migration), and the working directory, where relative paths point (Firecracker's
     * jailer makes it the jail's root) and snapshots may be written. The working directory is
     * left out when it is "/", which would allow everything. The log and metrics files are
     * opened once, when configured, and need no rule.
     */
    private java.util.List<Rule> vmmPaths(VmmController vmm) {
        java.util.List<Rule> rules = new java.util.ArrayList<>();
        for (Path sock : new Path[] {apiSock, consoleSock}) {
            if (sock != null && sock.toAbsolutePath().getParent() != null) {
                rules.add(new Rule(sock.toAbsolutePath().getParent(), Access.CREATE, "API socket directory"));
            }
        }
        if (snapshotKey != null) {
            rules.add(new Rule(snapshotKey, Access.READ, "snapshot key"));
        } else {
            rules.add(new Rule(io.jkvm.daemon.DaemonPaths.defaultStateDir(), Access.CREATE,
                    "state directory (host snapshot key)"));
        }
        if (tls != null) {
            // Read again for each migration (a fresh TLS context per connection).
            for (Path f : new Path[] {tls.cert(), tls.key(), tls.ca()}) {
                rules.add(new Rule(f, Access.READ, "migration TLS"));
            }
        }
        Path cwd = Path.of("").toAbsolutePath();
        if (cwd.getParent() != null) {
            rules.add(new Rule(cwd, Access.CREATE, "working directory (relative paths, snapshots)"));
        }
        return rules;
    }

    /** Wall (CLOCK_MONOTONIC, which System.nanoTime reads on Linux) and CPU time since the jailer's marks. */
    private void logStartup(EventLog log, VmmController vmm) {
        if (startUs == null && startCpuUs == null) {
            return;
        }
        java.util.List<Object> kv = new java.util.ArrayList<>();
        Long wallUs = null;
        Long cpuTimeUs = null;
        if (startUs != null) {
            wallUs = System.nanoTime() / 1000 - startUs;
            kv.addAll(java.util.List.of("process_startup_time_us", wallUs));
        }
        if (startCpuUs != null) {
            long cpuUs = ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
                    .getOperatingSystemMXBean()).getProcessCpuTime() / 1000;
            cpuTimeUs = cpuUs - startCpuUs + (parentCpuUs == null ? 0 : parentCpuUs);
            kv.addAll(java.util.List.of("process_startup_time_cpu_us", cpuTimeUs));
        }
        vmm.recordStartup(wallUs, cpuTimeUs);
        log.info("process_startup", kv.toArray());
    }

    /** Waits for the incoming migration; a failed one ends this VMM with an error. */
    private static void receiveInBackground(javax.net.ssl.SSLServerSocket listener, VmmController vmm, EventLog log,
            CompletableFuture<MachineExit> exited) {
        Thread.ofPlatform().name("migrate-in").daemon(true).start(() -> {
            try (listener) {
                io.jkvm.migration.IncomingMigration.Result r = io.jkvm.migration.IncomingMigration.receive(listener,
                        vmm::incomingTarget);
                log.info("migration_received", "bytes", r.bytes(), "pages", r.pages(), "rounds", r.rounds(),
                        "elapsed_ms", r.elapsed().toMillis(), "apply_ms", r.apply().toMillis(), "postcopy", r.postcopy() != null,
                        "apply_disks_ms", r.steps().disksMs(), "apply_kvm_state_ms", r.steps().kvmStateMs(),
                        "apply_devices_ms", r.steps().devicesMs(), "apply_start_ms", r.steps().startMs());
                if (r.postcopy() != null) {
                    // The guest runs; the rest of its RAM is still coming. A failure has stopped
                    // the machine with the reason already: this only records how it ended.
                    long t0 = System.nanoTime();
                    if (r.postcopy().awaitFilled(java.time.Duration.ofDays(365))) {
                        log.info("migration_postcopy_completed", "chunks_on_touch", r.postcopy().faultFills(),
                                "chunks_ahead", r.postcopy().prefetchFills(), "ms", (System.nanoTime() - t0) / 1_000_000);
                    } else {
                        Exception why = r.postcopy().failure();
                        log.error("migration_postcopy_failed", "error", why == null ? "stopped" : String.valueOf(why.getMessage()));
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (IOException | RuntimeException e) {
                log.error("migration_failed", "error", String.valueOf(e.getMessage()));
                exited.complete(new MachineExit(io.jkvm.vmm.StopReason.ERROR, "incoming migration failed: " + e.getMessage()));
            }
        });
    }

    /** SIGTERM/SIGINT end the JVM without the finally above: remove the sockets then too. */
    private static void closeOnExit(UdsHttpServer server, ConsoleServer console) {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            if (server != null) {
                server.close();
            }
            if (console != null) {
                console.close();
            }
        }, "close-sockets"));
    }
}
