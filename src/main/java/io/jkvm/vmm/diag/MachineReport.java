package io.jkvm.vmm.diag;

import java.time.Instant;
import java.util.List;

/**
 * What a person needs to see in a stuck VM: for every vCPU what its thread does and its KVM
 * state ({@link VcpuReport}), and the VM-wide interrupt controllers and clocks
 * ({@link IrqchipState}, null without an in-kernel irqchip or when it could not be read).
 * Rendered by {@link ReportText} (signal, logs) and {@link ReportJson} (API).
 */
public record MachineReport(Instant takenAt, String machineState, List<VcpuReport> vcpus, IrqchipState irqchip,
        List<String> errors) {
    public MachineReport {
        vcpus = List.copyOf(vcpus);
        errors = List.copyOf(errors);
    }

    /** A report for a VM that has no machine right now (not booted yet, between reboots, ended). */
    public static MachineReport none(String why) {
        return new MachineReport(Instant.now(), why, List.of(), null, List.of());
    }
}
