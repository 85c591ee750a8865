package io.jkvm.daemon;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * What the daemon knows about a VM's VMM process, stored in {@code vms/NAME/runtime.json} so a
 * restarted daemon finds running VMs again. {@code pid} 0 means not running.
 *
 * @param pid the VMM process, or 0
 * @param processStart the process's start time as the kernel reports it (guards against pid reuse)
 * @param paused whether the VM was last paused through the daemon
 * @param startedAt when the VM was started (ISO-8601)
 * @param lastExit how the previous run ended, for humans
 * @param migratingTo where a live migration of this VMM's VM is going, or null: recorded before it
 *     starts, so a daemon restarted meanwhile watches it again, and a VMM gone with it set is not
 *     taken for a stopped VM (the guest may run at the destination)
 */
public record VmRuntime(
        @JsonProperty("pid") long pid,
        @JsonProperty("process_start") String processStart,
        @JsonProperty("paused") boolean paused,
        @JsonProperty("started_at") String startedAt,
        @JsonProperty("last_exit") String lastExit,
        @JsonProperty("migrating_to") String migratingTo) {

    public static VmRuntime stopped(String lastExit) {
        return new VmRuntime(0, null, false, null, lastExit, null);
    }

    public static VmRuntime started(long pid, String processStart, String startedAt) {
        return new VmRuntime(pid, processStart, false, startedAt, null, null);
    }

    public VmRuntime withMigratingTo(String destination) {
        return new VmRuntime(pid, processStart, paused, startedAt, lastExit, destination);
    }

    public boolean running() {
        return pid > 0;
    }

    public VmRuntime withPaused(boolean p) {
        return new VmRuntime(pid, processStart, p, startedAt, lastExit, migratingTo);
    }
}
