package io.jkvm.vmm.diag;

import java.util.List;
import java.util.Map;

/**
 * One vCPU in a {@link MachineReport}.
 *
 * @param phase what the vCPU thread was doing when the report was asked for: not-started,
 *     in-kvm-run (in the guest, or halted inside KVM), handling-exit (in jkvm's device code),
 *     parked (paused VM), throttled (migration auto-converge sleep), done (thread ended)
 * @param lastExit the last exit KVM reported on this vCPU, as read from its kvm_run page
 * @param exits exits on this vCPU so far, by reason name
 * @param state the KVM state, or null when the vCPU thread did not answer in time
 * @param note how the state was obtained, or why it is missing
 * @param stack the vCPU thread's Java stack when it did not answer (it is stuck outside KVM_RUN)
 */
public record VcpuReport(int id, String phase, String lastExit, long exitTotal, Map<String, Long> exits,
        VcpuState state, String note, List<String> stack) {
    public VcpuReport {
        exits = Map.copyOf(exits);
        stack = stack == null ? List.of() : List.copyOf(stack);
    }
}
