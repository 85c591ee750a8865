package io.jkvm.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import io.jkvm.api.ActionRequest;
import io.jkvm.api.ConfigFile;
import io.jkvm.api.EventLog;
import io.jkvm.api.FullVmConfiguration;
import io.jkvm.api.Json;
import io.jkvm.api.MachineConfiguration;
import io.jkvm.api.MemoryBackend;
import io.jkvm.api.MetricsConfig;
import io.jkvm.api.SnapshotCreateParams;
import io.jkvm.api.SnapshotLoadParams;
import io.jkvm.api.UdsHttpClient;
import io.jkvm.api.UdsHttpServer;
import io.jkvm.api.VmmAction;
import io.jkvm.migration.MigrationReport;
import io.jkvm.snapshot.SnapshotKey;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One VM under the daemon: its definition, its VMM process and the operations on it. Operations
 * on one VM are serialized by its lock (different VMs proceed in parallel); {@link #status()}
 * reads volatile fields and never waits behind a slow start or stop.
 *
 * <p>Start spawns {@code jkvm run --api-sock} and configures it through the Firecracker API
 * exactly as any client would. Stop is "shutdown with a deadline": Ctrl+Alt+Del (guests without
 * ACPI power buttons reboot on it and, with on-reboot=exit, the VMM ends), then SIGKILL if the
 * guest has not ended by the deadline.
 */
final class ManagedVm {
    /**
     * Hang detectors, not budgets: a VMM that dies is noticed at once (its process exits); these
     * only bound a VMM that lives but never answers. Generous because a JVM starting inside the
     * TCG-emulated lab, next to other VMMs starting, takes tens of seconds.
     */
    /**
     * How long a new VMM may take to open its API socket while its process lives (JVM start-up,
     * disk locks); JKVM_VMM_START_TIMEOUT (seconds) in the daemon's environment overrides it for a
     * host where starting ten JVMs at once takes longer (an emulated machine).
     */
    private static final Duration SPAWN_TIMEOUT = startTimeout(System.getenv("JKVM_VMM_START_TIMEOUT"));

    static Duration startTimeout(String env) {
        if (env == null || env.isBlank()) {
            return Duration.ofMinutes(5);
        }
        try {
            long s = Long.parseLong(env.trim());
            if (s >= 1 && s <= 86_400) {
                return Duration.ofSeconds(s);
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("JKVM_VMM_START_TIMEOUT must be a number of seconds from 1 to 86400, not '" + env + "'");
    }
    private static final Duration CALL_TIMEOUT = Duration.ofMinutes(2);
    /** Saving or loading guest memory takes longer than other calls (and longer still in the lab). */
    private static final Duration SNAPSHOT_TIMEOUT = Duration.ofMinutes(5);

    private final StateStore store;
    private final EventLog log;
    private final VmDefinition definition;
    private final ReentrantLock lock = new ReentrantLock();
    private volatile VmRuntime runtime;
    private volatile String transition; // "starting", "stopping" or null
    private volatile Process child; // set when this daemon spawned the VMM
    /** The VM's latest outgoing migration as last read from its VMM (the final report once finished), or null. */
    private volatile MigrationReport migration;
    /** Which watcher may publish {@link #migration}: the one started last. */
    private final java.util.concurrent.atomic.AtomicLong migrationWatch = new java.util.concurrent.atomic.AtomicLong();
    /** How a VMM that migrated its VM away is recorded: the VM runs at the destination now. */
    static final String MIGRATED_TO = "migrated to ";
    /** How a VMM that died after its VM paused for migration is recorded: the VM may run at the destination. */
    static final String GONE_MIGRATING_TO = "gone while migrating to ";
    /** How often the daemon reads a running migration's progress from the VMM. */
    private static final Duration MIGRATION_POLL = Duration.ofMillis(200);
    private UdsHttpClient client;

    ManagedVm(StateStore store, EventLog log, VmDefinition definition, VmRuntime runtime) {
        this.store = store;
        this.log = log;
        this.definition = definition;
        this.runtime = runtime;
    }

    /** The daemon's --vm-uids: ids of other VMs, whose files this VM's definition may not take. */
    private volatile io.jkvm.isolation.UidRange uidRange;

    void uidRange(io.jkvm.isolation.UidRange range) {
        uidRange = range;
    }

    /** The daemon's flags for every VMM ({@code jkvm daemon --tls-*}). */
    private volatile java.util.List<String> vmmFlags = java.util.List.of();

    void vmmFlags(java.util.List<String> flags) {
        vmmFlags = flags;
    }

    String name() {
        return definition.name();
    }

    VmDefinition definition() {
        return definition;
    }

    VmRuntime runtime() {
        return runtime;
    }

    VmStatus status() {
        VmRuntime r = runtime;
        String name = name();
        String state = transition != null ? transition
                : !r.running() ? (migratedAway(r) ? "migrated" : "stopped")
                : r.migratingTo() != null ? "migrating" : r.paused() ? "paused" : "running";
        FullVmConfiguration c = definition.config();
        MachineConfiguration m = c.machineConfig() == null ? MachineConfiguration.DEFAULT
                : MachineConfiguration.DEFAULT.patchedWith(c.machineConfig());
        return new VmStatus(name, state, r.running() ? r.pid() : null, m.vcpuCount(), m.memSizeMib(),
                c.bootSource().kernelImagePath(), r.startedAt(), r.lastExit(),
                store.apiSocket(name).toString(), store.consoleSocket(name).toString(),
                store.serialLog(name).toString(), store.vmmLog(name).toString(), r.running() ? VmConfinement.of(r.pid()) : null);
    }

    // ---- operations ----

    /** Set once the VM is deleted: a start that held this object from before cannot bring it back. */
    private volatile boolean deleted;

    /** Something done with the VM's lock held that may fail on its files. */
    interface FileStep {
        void run() throws IOException;
    }

    /**
     * Deletes the VM under its lock, so no start or restore runs meanwhile or after: kills a
     * running VMM if {@code force}, gives the VM's disks back to root (its uid may go to another
     * VM next), then {@code removeFiles}.
     */
    void delete(boolean force, FileStep removeFiles) throws IOException {
        lock.lock();
        try {
            refresh();
            if (runtime.running()) {
                if (!force) {
                    throw DaemonException.conflict("VM '" + name() + "' is running: stop it first (or delete with force)");
                }
                long pid = runtime.pid();
                kill();
                if (VmmProcess.alive(pid)) {
                    throw DaemonException.failed("VM '" + name() + "': its VMM (pid " + pid + ") did not die; not deleted");
                }
            }
            if (definition.uid() != null) {
                VmOwnership.takeBack(definition.config(), definition.uid(), log);
            }
            deleted = true;
            removeFiles.run();
        } finally {
            lock.unlock();
        }
    }

    VmStatus start() {
        lock.lock();
        try {
            if (deleted) {
                throw DaemonException.notFound(name());
            }
            refresh();
            if (runtime.running()) {
                throw DaemonException.conflict("VM '" + name() + "' is already running (pid " + runtime.pid() + ")");
            }
            refuseIfMigratedAway();
            transition = "starting";
            try {
                doStart();
            } finally {
                transition = null;
            }
            return status();
        } finally {
            lock.unlock();
        }
    }

    /** Pauses (if running) and snapshots into {@code dir}/vm.state and vm.mem; the VM stays paused. */
    VmStatus snapshot(Path dir, boolean encrypt) {
        lock.lock();
        try {
            requireRunning();
            refuseWhileMigrating();
            try {
                Files.createDirectories(dir);
            } catch (IOException e) {
                throw DaemonException.badRequest("dir " + dir + ": cannot create: " + e.getMessage());
            }
            if (!runtime.paused()) {
                call(new VmmAction.Pause());
                save(runtime.withPaused(true));
            }
            call(new VmmAction.CreateSnapshot(new SnapshotCreateParams("Full",
                    dir.resolve(SnapshotDirRequest.STATE_FILE).toString(),
                    dir.resolve(SnapshotDirRequest.MEMORY_FILE).toString(), null, encrypt)), SNAPSHOT_TIMEOUT);
            log.info("vm_snapshotted", "vm", name(), "dir", dir);
            return status();
        } finally {
            lock.unlock();
        }
    }

    /** Starts the stopped VM from the snapshot in {@code dir} instead of booting it. */
    VmStatus restore(Path dir) {
        lock.lock();
        try {
            if (deleted) {
                throw DaemonException.notFound(name());
            }
            refresh();
            if (runtime.running()) {
                throw DaemonException.conflict("VM '" + name() + "' is running (pid " + runtime.pid()
                        + "): stop it before restoring a snapshot");
            }
            refuseIfMigratedAway();
            for (String f : new String[] {SnapshotDirRequest.STATE_FILE, SnapshotDirRequest.MEMORY_FILE}) {
                if (!Files.isRegularFile(dir.resolve(f))) {
                    throw DaemonException.badRequest("dir " + dir + ": no " + f + " (make one with `jkvm vm snapshot`)");
                }
            }
            transition = "starting";
            try {
                launch(() -> call(new VmmAction.LoadSnapshot(new SnapshotLoadParams(
                        dir.resolve(SnapshotDirRequest.STATE_FILE).toString(),
                        new MemoryBackend("File", dir.resolve(SnapshotDirRequest.MEMORY_FILE).toString()),
                        null, null, true)), SNAPSHOT_TIMEOUT));
            } finally {
                transition = null;
            }
            log.info("vm_restored", "vm", name(), "dir", dir);
            return status();
        } finally {
            lock.unlock();
        }
    }

    private static boolean migratedAway(VmRuntime r) {
        return !r.running() && r.lastExit() != null
                && (r.lastExit().startsWith(MIGRATED_TO) || r.lastExit().startsWith(GONE_MIGRATING_TO));
    }

    /**
     * A VM that migrated away runs at its destination, on the same shared disks: starting it here
     * too would run one guest twice on them. So would a VM whose VMM died after pausing it for the
     * switch-over (the destination may have it). The record stays (its definition, its logs) until
     * deleted, as libvirt keeps a migrated domain's definition unless told to undefine it.
     */
    private void refuseIfMigratedAway() {
        MigrationReport m = migration;
        String where = migratedAway(runtime) ? runtime.lastExit()
                : m != null && m.status() == MigrationReport.Status.COMPLETED ? MIGRATED_TO + m.destination()
                : null;
        if (where != null) {
            throw DaemonException.conflict("VM '" + name() + "' " + (where.startsWith(MIGRATED_TO) ? "was " : "is ") + where
                    + ", so it runs (or may run) there: starting it here too would run it twice on its disks"
                    + " (remove it here with `jkvm vm delete " + name() + "`)");
        }
    }

    /** Pause, resume, stop, snapshot or a second migration in the middle of one would break it: refused. */
    private void refuseWhileMigrating() {
        String to = runtime.migratingTo();
        if (runtime.running() && to != null) {
            throw DaemonException.conflict("VM '" + name() + "' is migrating to " + to + ": wait for it to end or cancel it"
                    + " (jkvm vm migrate " + name() + " --cancel); kill still works");
        }
    }

    /**
     * Starts a live migration of the running VM (the VMM's PUT /migrate, which checks every field
     * and answers 400 naming it) and watches it: the daemon reads the VMM's progress until the end,
     * so the final report is kept (and the VMM, which waits for it to be read, exits) whether or not
     * a client is watching. Where it goes is recorded first, so a daemon restarted meanwhile watches
     * it again. When it completed, the VM is recorded as migrated.
     */
    MigrationReport migrate(io.jkvm.api.MigrateRequest request) {
        lock.lock();
        try {
            if (deleted) {
                throw DaemonException.notFound(name());
            }
            requireRunning();
            refuseWhileMigrating();
            if (runtime.paused()) {
                throw DaemonException.conflict("VM '" + name() + "' is paused: resume it before migrating it");
            }
            String to = request.destination() == null ? "?" : request.destination();
            save(runtime.withMigratingTo(to));
            try {
                call(new VmmAction.StartMigration(request));
            } catch (DaemonException e) {
                save(runtime.withMigratingTo(null));
                if (e.getMessage().contains("tls_cert, tls_key and tls_ca are required")) {
                    throw DaemonException.conflict("VM '" + name() + "' has no migration certificates: start the daemon"
                            + " with --tls-cert, --tls-key and --tls-ca, then stop and start the VM");
                }
                throw e;
            }
            log.info("vm_migration_started", "vm", name(), "destination", to);
            return watchMigration(to);
        } finally {
            lock.unlock();
        }
    }

    /** After a daemon restart: a VM recorded as migrating is watched again. */
    void resumeMigrationWatch() {
        lock.lock();
        try {
            VmRuntime r = runtime;
            if (r.running() && r.migratingTo() != null) {
                log.info("vm_migration_rewatched", "vm", name(), "destination", r.migratingTo());
                watchMigration(r.migratingTo());
            }
        } finally {
            lock.unlock();
        }
    }

    private MigrationReport watchMigration(String to) {
        MigrationReport placeholder = MigrationReport.starting(to);
        long id = migrationWatch.incrementAndGet();
        migration = placeholder;
        long pid = runtime.pid();
        String processStart = runtime.processStart();
        Path api = store.apiSocket(name());
        Thread.ofVirtual().name("migration-watch-" + name()).start(() -> watch(id, pid, processStart, api, placeholder));
        return placeholder;
    }

    MigrationReport migration() {
        MigrationReport r = migration;
        if (r == null) {
            throw DaemonException.conflict("VM '" + name() + "' has not been migrated since the daemon started"
                    + " (POST /vms/" + name() + "/migrate)");
        }
        return r;
    }

    MigrationReport cancelMigration() {
        lock.lock();
        try {
            if (deleted) {
                throw DaemonException.notFound(name());
            }
            refresh();
            if (!runtime.running() || runtime.migratingTo() == null) {
                throw DaemonException.conflict("VM '" + name() + "' has no migration in progress");
            }
            call(new VmmAction.CancelMigration());
            log.info("vm_migration_cancel_requested", "vm", name());
            return migration;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Reads the migration's progress from VMM {@code pid} until it ends, on its own connection (so
     * nothing of it outlives the watch). A read that fails while the VMM lives is retried; a VMM
     * gone without a final report is recorded by what it had reached.
     */
    private void watch(long id, long pid, String processStart, Path api, MigrationReport first) {
        MigrationReport last = first;
        try (UdsHttpClient http = new UdsHttpClient(api)) {
            while (true) {
                Thread.sleep(MIGRATION_POLL.toMillis()); // the interval between progress reads, not synchronization
                if (deleted || migrationWatch.get() != id) {
                    return;
                }
                MigrationReport r;
                try {
                    UdsHttpClient.Reply reply = http.get("/migrate", CALL_TIMEOUT);
                    if (!reply.ok()) {
                        throw new IOException("GET /migrate: " + reply.status() + " " + reply.body());
                    }
                    r = Json.MAPPER.readValue(reply.body(), MigrationReport.class);
                } catch (IOException e) {
                    if (VmmProcess.isOurVmm(pid, api, processStart)) {
                        log.warn("vm_migration_read_failed", "vm", name(), "error", e.getMessage());
                        continue;
                    }
                    vmmGoneMigrating(id, pid, last);
                    return;
                }
                last = r;
                if (migrationWatch.get() == id) {
                    migration = r;
                }
                if (r.status().finished()) {
                    migrationEnded(id, pid, r);
                    return;
                }
            }
        } catch (IOException e) {
            log.warn("vm_migration_unwatched", "vm", name(), "error", e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Whether the source had paused the VM for the switch-over: from then on the destination may hold the running guest. */
    private static boolean pastThePause(String phase) {
        return !java.util.Set.of("starting", "connecting", "precopy", "rolled back").contains(phase);
    }

    private void migrationEnded(long id, long pid, MigrationReport r) throws InterruptedException {
        log.info("vm_migration_ended", "vm", name(), "status", r.status().name().toLowerCase(java.util.Locale.ROOT),
                "downtime_ms", r.downtimeMillis(), "error", String.valueOf(r.error()));
        boolean completed = r.status() == MigrationReport.Status.COMPLETED;
        boolean broke = r.brokeInPostcopy();
        if (completed || broke) {
            VmmProcess.awaitGone(pid, CALL_TIMEOUT); // it exits once the final report was read (by us, just now)
        }
        lock.lock();
        try {
            VmRuntime now = runtime;
            if (deleted || migrationWatch.get() != id || (now.running() && now.pid() != pid)) {
                return; // another VMM is recorded: never overwrite a live record
            }
            if (!completed && !broke) {
                if (now.running()) {
                    save(now.withMigratingTo(null)); // it runs on here
                }
            } else if (now.running() && VmmProcess.alive(pid)) {
                log.warn("vm_migration_source_lingers", "vm", name(), "pid", pid); // stays "migrating": no second start
            } else if (broke) {
                // Stopped here after the switch-over: the destination may have the guest, only the operator can tell.
                String how = GONE_MIGRATING_TO + r.destination() + " (post-copy broke after the switch-over)";
                markStopped(how);
                log.warn("vm_migration_lost", "vm", name(), "how", how);
            } else {
                markStopped(MIGRATED_TO + r.destination());
                log.info("vm_migrated", "vm", name(), "destination", r.destination());
            }
        } finally {
            lock.unlock();
        }
    }

    private void vmmGoneMigrating(long id, long pid, MigrationReport last) {
        lock.lock();
        try {
            VmRuntime now = runtime;
            if (deleted || migrationWatch.get() != id || (now.running() && now.pid() != pid)) {
                return;
            }
            String how = pastThePause(last.phase())
                    ? GONE_MIGRATING_TO + last.destination() + " (last seen in phase " + last.phase() + ")"
                    : "the VMM ended during its migration to " + last.destination() + ", before the VM paused for it";
            migration = last.lost("the VMM ended without a final report: " + how);
            markStopped(how);
            log.warn("vm_migration_lost", "vm", name(), "how", how);
        } finally {
            lock.unlock();
        }
    }

    private void doStart() {
        launch(() -> {
            configure();
            call(new VmmAction.InstanceStart());
        });
    }

    /** Spawns the VMM, waits for its API, then {@code boot} configures and starts (or restores) the guest. */
    private void launch(Runnable boot) {
        String name = name();
        Path api = store.apiSocket(name);
        Path console = store.consoleSocket(name);
        deleteSockets();
        Process p;
        try {
            Path metrics = store.metricsFile(name());
            if (!Files.exists(metrics)) {
                Files.createFile(metrics); // the VMM appends to it; as in Firecracker, it must exist first
            }
            VmDefinition def = definition();
            java.util.List<String> flags = new java.util.ArrayList<>(def.tuning() == null ? java.util.List.of() : def.tuning().flags());
            flags.addAll(vmmFlags);
            if (def.uid() != null) {
                io.jkvm.isolation.VmIdentity id = new io.jkvm.isolation.VmIdentity(def.uid(), def.uid());
                VmOwnership.handOver(def.config(), id, uidRange == null ? new io.jkvm.isolation.UidRange(def.uid(), def.uid()) : uidRange,
                        store.root());
                flags.addAll(java.util.List.of("--uid", String.valueOf(id.uid()), "--gid", String.valueOf(id.gid())));
            }
            if (def.virtioTransport() != null) {
                flags.addAll(java.util.List.of("--virtio-transport", def.virtioTransport()));
            }
            if (def.display() != null) {
                // Served where the web console's screen bridge looks for it.
                flags.addAll(java.util.List.of(def.display().flag(), "--vnc", store.vncSocket(name).toString()));
            }
            p = VmmProcess.spawn(api, console, name, store.root().resolve(SnapshotKey.DEFAULT_FILE),
                    flags, store.serialLog(name), store.vmmLog(name));
        } catch (IOException e) {
            throw DaemonException.failed("cannot start the VMM for '" + name + "': " + e.getMessage());
        }
        child = p;
        long pid = p.pid();
        save(VmRuntime.started(pid, VmmProcess.startTime(pid), Instant.now().toString()));
        log.info("vmm_spawned", "vm", name, "pid", pid);
        try {
            awaitApi(p, api);
            call(new VmmAction.ConfigureMetrics(new MetricsConfig(store.metricsFile(name()).toString())));
            boot.run();
            log.info("vm_started", "vm", name, "pid", pid);
            p.onExit().thenRun(this::reapSoon);
        } catch (DaemonException e) {
            VmmProcess.kill(pid);
            try {
                VmmProcess.awaitGone(pid, Duration.ofSeconds(10));
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
            }
            markStopped("failed to start: " + e.getMessage());
            throw e;
        }
    }

    private void awaitApi(Process p, Path api) {
        long deadline = System.nanoTime() + SPAWN_TIMEOUT.toNanos();
        while (!UdsHttpServer.listening(api)) {
            if (!p.isAlive()) {
                throw DaemonException.failed("the VMM for '" + name() + "' exited with status " + p.exitValue()
                        + " before serving its API (see " + store.vmmLog(name()) + ")");
            }
            if (System.nanoTime() > deadline) {
                throw DaemonException.failed("the VMM for '" + name() + "' did not open its API socket within "
                        + SPAWN_TIMEOUT.toSeconds() + " s");
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw DaemonException.failed("interrupted");
            }
        }
    }

    /** Sends the definition to the VMM as the configuration actions a config file would apply. */
    private void configure() {
        for (VmmAction a : ConfigFile.actions(definition.config())) {
            call(a);
        }
    }

    VmStatus pause() {
        return changeState(true);
    }

    VmStatus resume() {
        return changeState(false);
    }

    private VmStatus changeState(boolean pause) {
        lock.lock();
        try {
            requireRunning();
            refuseWhileMigrating();
            call(pause ? new VmmAction.Pause() : new VmmAction.Resume());
            save(runtime.withPaused(pause));
            log.info(pause ? "vm_paused" : "vm_resumed", "vm", name());
            return status();
        } finally {
            lock.unlock();
        }
    }

    /** Ctrl+Alt+Del, then SIGKILL at the deadline. Returns how it ended. */
    VmStatus stop(Duration deadline) {
        lock.lock();
        try {
            requireRunning();
            refuseWhileMigrating();
            transition = "stopping";
            long pid = runtime.pid();
            try {
                String how;
                try {
                    if (runtime.paused()) {
                        call(new VmmAction.Resume());
                    }
                    call(new VmmAction.SendCtrlAltDel());
                    how = VmmProcess.awaitGone(pid, deadline) ? "guest shut down after Ctrl+Alt+Del" : null;
                } catch (DaemonException e) {
                    how = null;
                }
                if (how == null) {
                    VmmProcess.kill(pid);
                    requireGone(pid);
                    how = "killed: the guest did not shut down within " + deadline.toMillis() + " ms of Ctrl+Alt+Del";
                }
                markStopped(how);
                log.info("vm_stopped", "vm", name(), "how", how);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw DaemonException.failed("interrupted");
            } finally {
                transition = null;
            }
            return status();
        } finally {
            lock.unlock();
        }
    }

    VmStatus kill() {
        lock.lock();
        try {
            requireRunning();
            long pid = runtime.pid();
            VmmProcess.kill(pid);
            try {
                requireGone(pid);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw DaemonException.failed("interrupted while waiting for the VMM (pid " + pid + ") to die");
            }
            markStopped("killed");
            log.info("vm_killed", "vm", name(), "pid", pid);
            return status();
        } finally {
            lock.unlock();
        }
    }

    /**
     * After SIGKILL: waits (bounded) for the VMM to be gone. One still alive (stuck in
     * uninterruptible I/O, e.g. on a hung NFS disk) keeps its record "running": marking it stopped
     * would let a second VMM start on the same disks and sockets next to it.
     */
    private void requireGone(long pid) throws InterruptedException {
        if (!VmmProcess.awaitGone(pid, KILL_GRACE)) {
            throw DaemonException.failed("VM '" + name() + "': its VMM (pid " + pid + ") is still alive "
                    + KILL_GRACE.toSeconds() + " s after SIGKILL (uninterruptible I/O?); it stays recorded as running");
        }
    }

    /** How long a SIGKILLed VMM may take to be gone (it may be flushing a large dirty page cache). */
    private static final Duration KILL_GRACE = Duration.ofSeconds(10);

    /** The VMM's own metrics (GET /jkvm/metrics), or null if it is not running or does not answer. */
    JsonNode vmmMetrics() {
        VmRuntime r = runtime;
        if (!r.running() || transition != null) {
            return null;
        }
        try {
            UdsHttpClient.Reply reply = client().get("/jkvm/metrics", Duration.ofSeconds(2));
            return reply.ok() ? Json.MAPPER.readTree(reply.body()) : null;
        } catch (IOException | DaemonException e) {
            return null;
        }
    }

    // ---- bookkeeping ----

    /**
     * Reconciles the record with reality: a recorded VMM that is gone (or whose pid now belongs
     * to another process) is marked stopped and its sockets removed. Called at daemon start, by
     * the monitor and before each operation.
     */
    void refresh() {
        if (!lock.tryLock()) {
            return; // an operation is in progress and will leave things consistent
        }
        try {
            VmRuntime r = runtime;
            if (r.running() && !VmmProcess.isOurVmm(r.pid(), store.apiSocket(name()), r.processStart())) {
                Process p = child;
                // Gone in the middle of a migration: the guest may run at the destination (the
                // migration's watcher records more exactly what happened when it can).
                String how = r.migratingTo() != null ? GONE_MIGRATING_TO + r.migratingTo() + " (outcome unknown)"
                        : p != null && p.pid() == r.pid() && !p.isAlive()
                        ? "the VMM exited with status " + p.exitValue() + describeStatus(p.exitValue())
                        : "the VMM (pid " + r.pid() + ") is gone";
                markStopped(how);
                log.info("vm_exited", "vm", name(), "how", how);
            }
        } finally {
            lock.unlock();
        }
    }

    private static String describeStatus(int status) {
        return switch (status) {
            case 0 -> " (guest powered off or rebooted)";
            case 1 -> " (guest or VMM error)";
            case 3 -> " (triple fault)";
            case 137 -> " (killed)";
            default -> "";
        };
    }

    private void reapSoon() {
        Thread.ofVirtual().start(this::refresh);
    }

    private void requireRunning() {
        refresh();
        if (!runtime.running()) {
            throw DaemonException.conflict("VM '" + name() + "' is not running");
        }
    }

    private void markStopped(String how) {
        closeClient();
        child = null;
        deleteSockets();
        removeCgroups();
        save(VmRuntime.stopped(how));
    }

    /**
     * The VMM made its cgroups beneath the daemon's (tuning.cgroup) and, once confined, cannot
     * remove them: the daemon does, when the VMM is gone. Under the VM's lock on purpose, although
     * it may wait (bounded, 5 s) for the dead VMM's last threads to leave: a start of the same VM
     * right after would make cgroups of the same name, which a removal running outside the lock
     * could race. Other VMs and status() do not wait for it.
     */
    private void removeCgroups() {
        io.jkvm.resources.VmTuning t = definition().tuning();
        if (t == null || t.cgroup() == null) {
            return;
        }
        try {
            var removed = io.jkvm.resources.Cgroups.removeLeftover(name(),
                    io.jkvm.resources.Cgroups.controllers(t.cgroupSettings()), null, ProcessHandle.current().pid());
            if (!removed.isEmpty()) {
                log.info("vm_cgroups_removed", "vm", name(), "dirs", removed.toString());
            }
        } catch (IllegalArgumentException e) {
            log.warn("vm_cgroups_left", "vm", name(), "error", e.getMessage());
        }
    }

    private void deleteSockets() {
        try {
            Files.deleteIfExists(store.apiSocket(name()));
            Files.deleteIfExists(store.consoleSocket(name()));
            Files.deleteIfExists(store.vncSocket(name()));
        } catch (IOException e) {
            log.warn("socket_cleanup_failed", "vm", name(), "error", e.getMessage());
        }
    }

    private void save(VmRuntime r) {
        runtime = r;
        try {
            store.saveRuntime(name(), r);
        } catch (IOException e) {
            log.error("state_write_failed", "vm", name(), "error", e.getMessage());
            throw DaemonException.failed("cannot record the state of '" + name() + "': " + e.getMessage());
        }
    }

    private synchronized UdsHttpClient client() throws IOException {
        if (client == null) {
            client = new UdsHttpClient(store.apiSocket(name()));
        }
        return client;
    }

    private synchronized void closeClient() {
        if (client != null) {
            client.close();
            client = null;
        }
    }

    /** One API call to the VMM; a refusal carries the VMM's fault message. */
    private void call(VmmAction action) {
        call(action, CALL_TIMEOUT);
    }

    private void call(VmmAction action, Duration timeout) {
        ActionRequest request = ActionRequest.of(action);
        String method = request.method();
        String path = request.path();
        String json = request.body();
        UdsHttpClient.Reply r;
        try {
            r = client().send(method, path, json, timeout);
        } catch (IOException e) {
            throw DaemonException.failed("VM '" + name() + "': the VMM did not answer " + method + " " + path + ": "
                    + e.getMessage());
        }
        if (!r.ok()) {
            String fault = r.body();
            try {
                fault = Json.MAPPER.readTree(r.body()).path("fault_message").asText(r.body());
            } catch (IOException e) {
                // keep the raw body
            }
            throw new DaemonException(r.status() >= 500 ? 500 : 400, "VM '" + name() + "': " + method + " " + path + ": " + fault);
        }
    }

    /** Checks a configuration with the VMM's own validation, without starting anything. */
    /**
     * A definition's {@code virtio_transport} (null: PCI), checked against the devices its
     * configuration has: virtio-mmio has one interrupt line per device and a fixed number of them.
     */
    static io.jkvm.config.VirtioTransport transport(String value, FullVmConfiguration config) {
        if (value == null) {
            return io.jkvm.config.VirtioTransport.PCI;
        }
        io.jkvm.config.VirtioTransport t;
        try {
            t = io.jkvm.config.VirtioTransport.parse("virtio_transport", value);
        } catch (io.jkvm.config.ConfigException e) {
            throw DaemonException.badRequest(e.getMessage());
        }
        if (t == io.jkvm.config.VirtioTransport.MMIO) {
            int devices = size(config.drives()) + size(config.networkInterfaces()) + (config.entropy() == null ? 0 : 1)
                    + (config.vsock() == null ? 0 : 1) + (config.balloon() == null ? 0 : 1);
            try {
                io.jkvm.arch.x86.VirtioMmioSlots.requireFits(devices);
            } catch (IllegalArgumentException e) {
                throw DaemonException.badRequest("virtio_transport mmio: " + e.getMessage());
            }
        }
        return t;
    }

    private static int size(java.util.List<?> l) {
        return l == null ? 0 : l.size();
    }

    static void validate(FullVmConfiguration config, io.jkvm.config.HostLimits limits) {
        if (config.logger() != null || config.metrics() != null) {
            throw DaemonException.badRequest("logger and metrics are managed by the daemon: leave them out of the definition");
        }
        try {
            ConfigFile.validate(config, limits);
        } catch (io.jkvm.api.ApiException e) {
            throw DaemonException.badRequest(e.getMessage());
        }
    }
}
