package io.jkvm.vmm.diag;

import io.jkvm.kvm.KvmIoctls;
import io.jkvm.kvm.KvmRun;

/** One line for the exit a vCPU's kvm_run page holds (api.rst section 5: the exit union). */
public final class ExitDescription {
    private ExitDescription() {}

    /** Reads the page without synchronisation: a diagnostic that may race with the vCPU. */
    public static String of(KvmRun run) {
        int reason = run.exitReason();
        String name = KvmIoctls.exitName(reason);
        return switch (reason) {
            case KvmIoctls.KVM_EXIT_IO -> String.format("%s %s port 0x%x size %d count %d", name,
                    run.ioIsOut() ? "out" : "in", run.ioPort(), run.ioSize(), run.ioCount());
            case KvmIoctls.KVM_EXIT_MMIO -> String.format("%s %s 0x%x len %d", name,
                    run.mmioIsWrite() ? "write" : "read", run.mmioAddress(), run.mmioLength());
            case KvmIoctls.KVM_EXIT_SYSTEM_EVENT -> name + " type " + run.systemEventType();
            default -> name;
        };
    }
}
