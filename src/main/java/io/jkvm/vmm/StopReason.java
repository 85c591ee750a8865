package io.jkvm.vmm;

/** Why a machine stopped running. */
public enum StopReason {
    /** The guest powered off (ACPI S5 or KVM system event). */
    POWER_OFF,
    /** The guest asked for a reset (i8042 pulse, ACPI reset register, KVM system event). */
    REBOOT,
    /** A triple fault: KVM_EXIT_SHUTDOWN. */
    TRIPLE_FAULT,
    /** Every vCPU executed HLT with no interrupt controller to wake it (test guests only). */
    HALTED,
    /** The guest crashed (KVM system event CRASH) or KVM reported an error it cannot continue from. */
    ERROR,
    /** The VMM was asked to stop (API, signal, console escape). */
    STOPPED
}
