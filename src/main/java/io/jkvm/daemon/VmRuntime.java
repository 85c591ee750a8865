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
 */
public record VmRuntime(
        @JsonProperty("pid") long pid,
        @JsonProperty("process_start") String processStart,
        @JsonProperty("paused") boolean paused,
        @JsonProperty("started_at") String startedAt,
        @JsonProperty("last_exit") String lastExit) {

    public static VmRuntime stopped(String lastExit) {
        return new VmRuntime(0, null, false, null, lastExit);
    }

    public boolean running() {
        return pid > 0;
    }

    public VmRuntime withPaused(boolean p) {
        return new VmRuntime(pid, processStart, p, startedAt, lastExit);
    }
}
