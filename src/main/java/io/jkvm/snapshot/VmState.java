package io.jkvm.snapshot;

import java.util.List;

/**
 * The complete KVM state of a machine, apart from guest memory and userspace devices: the
 * configuration it was taken on, each vCPU, and the VM-wide in-kernel devices.
 *
 * @param irqchips struct kvm_irqchip for PIC master, PIC slave and IOAPIC (chip ids 0, 1, 2),
 *                 empty without the in-kernel irqchip
 * @param pit      struct kvm_pit_state2 (KVM_GET_PIT2) or null
 * @param clock    struct kvm_clock_data (KVM_GET_CLOCK) or null
 */
public record VmState(MachineConfig config, List<VcpuState> vcpus, List<byte[]> irqchips, byte[] pit, byte[] clock) {
    public VmState {
        vcpus = List.copyOf(vcpus);
        irqchips = List.copyOf(irqchips);
    }
}
