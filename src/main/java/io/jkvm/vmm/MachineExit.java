package io.jkvm.vmm;

/** The first reason a machine stopped, with a human-readable report (registers on faults). */
public record MachineExit(StopReason reason, String detail) {
    public boolean clean() {
        return reason == StopReason.POWER_OFF || reason == StopReason.STOPPED || reason == StopReason.HALTED;
    }
}
