package io.jkvm.vmm;

import io.jkvm.kvm.KvmRun;
import io.jkvm.kvm.VcpuFd;

import static io.jkvm.kvm.KvmIoctls.*;

/** Handles one vCPU's exits (runs on that vCPU's thread). */
final class Vcpu {
    private final Machine machine;
    private final VcpuFd fd;
    private final ExitHandler exits;
    private final KvmRun run;

    Vcpu(Machine machine, VcpuFd fd, ExitHandler exits) {
        this.machine = machine;
        this.fd = fd;
        this.exits = exits;
        this.run = fd.runState();
    }

    /** Handles one exit; returns false when this vCPU must stop running. */
    boolean handleExit(int reason) {
        switch (reason) {
            case KVM_EXIT_IO -> exits.io(run);
            case KVM_EXIT_MMIO -> exits.mmio(run);
            case KVM_EXIT_INTR, KVM_EXIT_IRQ_WINDOW_OPEN -> { }
            case KVM_EXIT_HLT -> {
                // Only reachable without an in-kernel LAPIC (test machines): nothing can wake us.
                return false;
            }
            case KVM_EXIT_SHUTDOWN -> {
                // On AMD, KVM re-initializes the vCPU on a shutdown intercept (the VMCB is undefined
                // after one), so registers at the reset vector mean "unknown", not "faulted there".
                String regs = registers();
                boolean reset = regs.contains("rip=000000000000fff0") && regs.contains("cs=f000");
                machine.requestStop(StopReason.TRIPLE_FAULT, "triple fault on vCPU " + fd.id() + "\n" + regs
                        + (reset ? "\n (the vCPU is in its reset state: on AMD hosts KVM resets it on a triple fault,"
                                + " so the faulting registers are lost)" : ""));
                return false;
            }
            case KVM_EXIT_SYSTEM_EVENT -> {
                int type = run.systemEventType();
                switch (type) {
                    case KVM_SYSTEM_EVENT_SHUTDOWN -> machine.requestStop(StopReason.POWER_OFF, "system event: shutdown");
                    case KVM_SYSTEM_EVENT_RESET -> machine.requestStop(StopReason.REBOOT, "system event: reset");
                    case KVM_SYSTEM_EVENT_CRASH -> machine.requestStop(StopReason.ERROR, "system event: guest crash");
                    default -> machine.requestStop(StopReason.ERROR, "unknown system event type " + type);
                }
                return false;
            }
            case KVM_EXIT_FAIL_ENTRY -> {
                machine.requestStop(StopReason.ERROR, String.format(
                        "KVM_EXIT_FAIL_ENTRY on vCPU %d: hardware entry failure reason 0x%x%n%s",
                        fd.id(), run.failEntryReason(), registers()));
                return false;
            }
            case KVM_EXIT_INTERNAL_ERROR -> {
                StringBuilder data = new StringBuilder();
                for (long d : run.internalData()) {
                    data.append(String.format(" 0x%x", d));
                }
                machine.requestStop(StopReason.ERROR, String.format(
                        "KVM_EXIT_INTERNAL_ERROR on vCPU %d: suberror %d (%s), data:%s%n%s", fd.id(),
                        run.internalSuberror(), internalErrorName(run.internalSuberror()), data, registers()));
                return false;
            }
            default -> {
                machine.requestStop(StopReason.ERROR,
                        "unhandled KVM exit " + exitName(reason) + " on vCPU " + fd.id() + "\n" + registers());
                return false;
            }
        }
        return true;
    }

    private static String internalErrorName(int sub) {
        return switch (sub) {
            case 1 -> "instruction emulation failed";
            case 2 -> "event delivery failed (simultaneous exceptions)";
            case 3 -> "delivery event";
            case 4 -> "unexpected exit reason";
            default -> "unknown";
        };
    }

    private String registers() {
        try {
            return " " + fd.getRegs() + "\n " + fd.getSregs();
        } catch (RuntimeException e) {
            return " (registers unavailable: " + e.getMessage() + ")";
        }
    }
}
