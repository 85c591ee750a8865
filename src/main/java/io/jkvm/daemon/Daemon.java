package io.jkvm.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import io.jkvm.api.EventLog;
import io.jkvm.api.FullVmConfiguration;
import io.jkvm.config.HostLimits;

import io.jkvm.snapshot.SnapshotKey;

import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The host daemon's model: every defined VM, loaded from the {@link StateStore} at start (VMMs
 * that survived a daemon restart are recognised by pid, start time and command line, and kept),
 * plus a monitor that notices VMMs that ended on their own.
 */
public final class Daemon implements AutoCloseable {
    private final StateStore store;
    private final EventLog log;
    private final HostLimits limits;
    private final Map<String, ManagedVm> vms = new ConcurrentSkipListMap<>();
    private final Map<String, Object> creating = new ConcurrentHashMap<>();
    private final ScheduledExecutorService monitor = Executors.newSingleThreadScheduledExecutor(
            r -> Thread.ofPlatform().name("vm-monitor").daemon(true).unstarted(r));
    private final Instant startedAt = Instant.now();
    private volatile boolean allowRealtime;
    private volatile io.jkvm.isolation.UidRange vmUids;
    private volatile List<String> vmmFlags = List.of();
    /** Ids picked for VMs being defined, not yet in {@link #vms}. */
    private final java.util.Set<Integer> pendingUids = new java.util.HashSet<>();

    /**
     * Checks the daemon's environment settings (JKVM_VMM_START_TIMEOUT, JKVM_VMM_JAVA_OPTS, whose
     * options this JDK must start with); throws naming the bad one.
     */
    public static void checkEnvironment() {
        ManagedVm.startTimeout(System.getenv("JKVM_VMM_START_TIMEOUT"));
        List<String> javaOptions = VmmProcess.extraJavaOptions(System.getenv(VmmProcess.JAVA_OPTS_ENV));
        try {
            VmmProcess.checkJavaOptions(javaOptions);
        } catch (IOException e) {
            throw new IllegalArgumentException(VmmProcess.JAVA_OPTS_ENV + ": cannot start java to check them: "
                    + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalArgumentException(VmmProcess.JAVA_OPTS_ENV + ": interrupted while checking them", e);
        }
    }

    public Daemon(StateStore store, EventLog log, HostLimits limits) throws IOException {
        this.store = store;
        this.log = log;
        this.limits = limits;
        // The key every VMM of this daemon authenticates snapshots with (0600, made once).
        SnapshotKey.loadOrGenerate(store.root());
        for (String name : store.names()) {
            VmDefinition d = store.loadDefinition(name);
            VmRuntime r = store.loadRuntime(name).orElse(VmRuntime.stopped(null));
            ManagedVm vm = new ManagedVm(store, log, d, r);
            vm.refresh();
            vm.resumeMigrationWatch();
            vms.put(name, vm);
            log.info("vm_loaded", "vm", name, "state", vm.status().state(), "pid", vm.runtime().pid());
        }
        monitor.scheduleWithFixedDelay(() -> vms.values().forEach(ManagedVm::refresh), 1, 1, TimeUnit.SECONDS);
    }

    public StateStore store() {
        return store;
    }

    public Instant startedAt() {
        return startedAt;
    }

    /**
     * Whether VMs defined from now on may run their vCPUs in a real-time class (tuning.vcpu_sched
     * fifo or rr). Off by default: a SCHED_FIFO vCPU spinning in its guest never yields, and can
     * starve the host of the CPUs it runs on, so the host's operator opts in (jkvm daemon
     * --allow-realtime), not each client.
     */
    public Daemon allowRealtime(boolean allow) {
        allowRealtime = allow;
        return this;
    }

    /**
     * Gives each VM defined from now on its own user id from {@code range} (null: none), which its
     * VMM runs as once its VM is built ({@link VmOwnership}, {@code jkvm run --uid}).
     */
    public Daemon vmUids(io.jkvm.isolation.UidRange range) {
        vmUids = range;
        vms.values().forEach(v -> v.uidRange(range));
        if (range != null) {
            vms.values().stream().filter(v -> v.definition().uid() == null).forEach(v ->
                    log.warn("vm_without_own_uid", "vm", v.name(), "note", "defined before --vm-uids; its VMM keeps the daemon's user"));
        }
        return this;
    }

    /**
     * Flags every VMM started from now on gets (the host's migration TLS files, {@code jkvm daemon
     * --tls-*}): a VMM confined by Landlock opens only what it was started with, so files named
     * only in a later migrate request would be out of its reach.
     */
    public Daemon vmmFlags(List<String> flags) {
        List<String> f = List.copyOf(flags);
        vmmFlags = f;
        vms.values().forEach(v -> v.vmmFlags(f));
        return this;
    }

    /** The lowest id of the range no VM has, reserved until {@link #releasePending}; -1 when none is free. */
    private synchronized int pickUid(io.jkvm.isolation.UidRange range) {
        java.util.Set<Integer> taken = new java.util.HashSet<>(pendingUids);
        vms.values().forEach(v -> {
            if (v.definition().uid() != null) {
                taken.add(v.definition().uid());
            }
        });
        int id = range.firstFree(taken::contains);
        if (id >= 0) {
            pendingUids.add(id);
        }
        return id;
    }

    private synchronized void releasePending(Integer id) {
        if (id != null) {
            pendingUids.remove(id);
        }
    }

    public VmStatus create(String name, FullVmConfiguration config) {
        return create(name, config, null);
    }

    public VmStatus create(String name, FullVmConfiguration config, io.jkvm.resources.VmTuning tuning) {
        return create(name, config, tuning, null);
    }

    /**
     * Defines VM {@code name}; {@code tuning} (null: none) is checked as its VMM will check the
     * flags, and {@code virtioTransport} (null: PCI) against the devices the configuration has.
     */
    public VmStatus create(String name, FullVmConfiguration config, io.jkvm.resources.VmTuning tuning, String virtioTransport) {
        return create(name, config, tuning, virtioTransport, null);
    }

    /** As above, with a display ({@code display}, null: none) served on {@code vms/NAME/vnc.sock}. */
    public VmStatus create(String name, FullVmConfiguration config, io.jkvm.resources.VmTuning tuning, String virtioTransport,
            DisplayRequest display) {
        VmName.require(name);
        if (display != null) {
            display.toConfig(); // checked now: a 400 naming the field, not a VMM that will not start
        }
        if (config == null || config.bootSource() == null) {
            throw DaemonException.badRequest("the definition needs a 'config' with a 'boot-source'");
        }
        ManagedVm.validate(config, limits);
        io.jkvm.config.VirtioTransport transport = ManagedVm.transport(virtioTransport, config);
        if (tuning != null) {
            try {
                tuning.validate(config.machineConfig() == null || config.machineConfig().vcpuCount() == null
                        ? 1 : config.machineConfig().vcpuCount());
            } catch (IllegalArgumentException e) {
                throw DaemonException.badRequest(e.getMessage());
            }
            if (tuning.realTime() && !allowRealtime) {
                throw DaemonException.badRequest("tuning.vcpu_sched " + tuning.vcpuSched() + ": real-time vCPUs need a daemon"
                        + " started with --allow-realtime (a real-time vCPU that never sleeps can starve the host)");
            }
            if (vmUids != null && (Boolean.TRUE.equals(tuning.mlock()) || tuning.realTime())) {
                throw DaemonException.badRequest((tuning.realTime() ? "tuning.vcpu_sched" : "tuning.mlock")
                        + ": this daemon runs each VM as its own unprivileged user (--vm-uids), which cannot lock RAM"
                        + " or take a real-time class");
            }
        }
        if (creating.putIfAbsent(name, Boolean.TRUE) != null || vms.containsKey(name)) {
            creating.remove(name);
            throw DaemonException.conflict("a VM named '" + name + "' already exists");
        }
        io.jkvm.isolation.UidRange range = vmUids;
        Integer uid = null;
        try {
            if (range != null) {
                int id = pickUid(range);
                if (id < 0) {
                    throw DaemonException.conflict("every user id of --vm-uids " + range.first() + "-" + range.last()
                            + " belongs to a VM; delete one or widen the range");
                }
                uid = id;
            }
            VmDefinition d = new VmDefinition(name, config, Instant.now().toString(),
                    tuning == null || tuning.isEmpty() ? null : tuning, uid,
                    transport == io.jkvm.config.VirtioTransport.PCI ? null : transport.flagValue(), display);
            store.saveDefinition(d);
            store.saveRuntime(name, VmRuntime.stopped(null));
            ManagedVm vm = new ManagedVm(store, log, d, VmRuntime.stopped(null));
            vm.uidRange(range);
            vm.vmmFlags(vmmFlags);
            vms.put(name, vm);
            log.info("vm_defined", "vm", name);
            return vm.status();
        } catch (IOException e) {
            try {
                store.delete(name); // no half-stored definition keeps a uid the next VM gets
            } catch (IOException ignored) {
                // reported below; the definition may never have been written
            }
            throw DaemonException.failed("cannot store VM '" + name + "': " + e.getMessage());
        } finally {
            releasePending(uid);
            creating.remove(name);
        }
    }

    public ManagedVm get(String name) {
        ManagedVm vm = vms.get(name);
        if (vm == null) {
            throw DaemonException.notFound(name);
        }
        return vm;
    }

    public List<VmStatus> list() {
        List<VmStatus> out = new ArrayList<>();
        for (ManagedVm vm : vms.values()) {
            out.add(vm.status());
        }
        return out;
    }

    public VmStatus start(String name) {
        return get(name).start();
    }

    public VmStatus stop(String name, Duration deadline) {
        return get(name).stop(deadline);
    }

    public VmStatus kill(String name) {
        return get(name).kill();
    }

    public VmStatus pause(String name) {
        return get(name).pause();
    }

    /** Pauses the VM and saves a snapshot into {@code dir}; the VM stays paused. */
    public VmStatus snapshot(String name, java.nio.file.Path dir, boolean encrypt) {
        return get(name).snapshot(dir, encrypt);
    }

    /** Starts a stopped VM from the snapshot in {@code dir}. */
    public VmStatus restore(String name, java.nio.file.Path dir) {
        return get(name).restore(dir);
    }

    public VmStatus resume(String name) {
        return get(name).resume();
    }

    /** Starts a live migration of the running VM; its progress is {@link #migration}. */
    public io.jkvm.migration.MigrationReport migrate(String name, io.jkvm.api.MigrateRequest request) {
        return get(name).migrate(request);
    }

    /** The VM's latest migration: live while it runs, the final report after. */
    public io.jkvm.migration.MigrationReport migration(String name) {
        return get(name).migration();
    }

    public io.jkvm.migration.MigrationReport cancelMigration(String name) {
        return get(name).cancelMigration();
    }

    /** Removes a stopped VM and its files; {@code force} kills a running one first. */
    public void delete(String name, boolean force) {
        ManagedVm vm = get(name);
        try {
            // Under the VM's lock: a start in progress finishes first, and none follows.
            vm.delete(force, () -> store.delete(name));
        } catch (IOException e) {
            throw DaemonException.failed("cannot delete the files of '" + name + "': " + e.getMessage());
        }
        vms.remove(name); // frees its uid, now that its VMM is gone and its disks are root's again
        log.info("vm_deleted", "vm", name);
    }

    /** Each running VM's metrics from its VMM, by name. */
    public Map<String, JsonNode> vmmMetrics() {
        Map<String, JsonNode> out = new java.util.TreeMap<>();
        for (ManagedVm vm : vms.values()) {
            JsonNode m = vm.vmmMetrics();
            if (m != null) {
                out.put(vm.name(), m);
            }
        }
        return out;
    }

    @Override
    public void close() {
        monitor.shutdownNow();
    }
}
