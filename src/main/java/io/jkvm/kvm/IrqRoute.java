package io.jkvm.kvm;

/**
 * One entry of the VM's GSI routing table (api.rst, KVM_SET_GSI_ROUTING; struct
 * kvm_irq_routing_entry). A GSI may have several entries (e.g. both PIC and IOAPIC).
 */
public sealed interface IrqRoute permits IrqRoute.Irqchip, IrqRoute.Msi {
    /** KVM_IRQ_ROUTING_IRQCHIP */
    int TYPE_IRQCHIP = 1;
    /** KVM_IRQ_ROUTING_MSI */
    int TYPE_MSI = 2;
    /** kvm_irq_routing_irqchip.irqchip values. */
    int CHIP_PIC_MASTER = 0;
    int CHIP_PIC_SLAVE = 1;
    int CHIP_IOAPIC = 2;

    int gsi();

    /** GSI → pin of an in-kernel interrupt controller. */
    record Irqchip(int gsi, int chip, int pin) implements IrqRoute {
        public Irqchip {
            if (gsi < 0 || chip < 0 || chip > 2 || pin < 0 || pin > 23) {
                throw new IllegalArgumentException("bad irqchip route " + gsi + " -> " + chip + ":" + pin);
            }
        }
    }

    /** GSI → message-signalled interrupt with this address and data. */
    record Msi(int gsi, long address, int data) implements IrqRoute {
        public Msi {
            if (gsi < 0) {
                throw new IllegalArgumentException("negative GSI");
            }
        }
    }
}
