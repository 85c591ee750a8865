package io.jkvm.device.msi;

import io.jkvm.kvm.IrqRoute;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * The VM's whole GSI routing table (one per VM, shared by every device that uses MSI).
 *
 * <p>KVM_SET_GSI_ROUTING replaces the entire table (api.rst), so this class always commits the
 * default irqchip routes KVM installs at KVM_CREATE_IRQCHIP alongside the MSI routes: GSI 0-7
 * to the master PIC pin and IOAPIC pin of the same number, 8-15 to the slave PIC (pin − 8) and
 * the IOAPIC, 16-23 to the IOAPIC only. Leaving them out would silently break the PIT, serial
 * port and every other INTx/ISA interrupt.
 *
 * <p>MSI routes get GSIs from {@link #FIRST_MSI_GSI} upwards; released GSIs are reused.
 * Thread-safe; commits happen under the lock so the kernel always sees the latest table.
 */
public final class GsiRouter {
    /** GSIs below this are the IOAPIC's 24 pins (Layout.IOAPIC_PINS). */
    public static final int FIRST_MSI_GSI = 24;
    /** KVM_MAX_IRQ_ROUTES on x86 is 4096; keep well inside it. */
    public static final int MAX_GSI = 1024;

    private final Consumer<List<IrqRoute>> commit;
    private final Map<Integer, IrqRoute.Msi> msi = new TreeMap<>();
    private List<IrqRoute> lastCommitted = List.of();

    /** {@code commit} installs a full table, e.g. {@code vm::setGsiRouting}. */
    public GsiRouter(Consumer<List<IrqRoute>> commit) {
        this.commit = commit;
    }

    /** KVM's default x86 routes (virt/kvm/irqchip defaults for a full in-kernel irqchip). */
    public static List<IrqRoute> defaultIrqchipRoutes() {
        List<IrqRoute> out = new ArrayList<>();
        for (int gsi = 0; gsi < FIRST_MSI_GSI; gsi++) {
            out.add(new IrqRoute.Irqchip(gsi, IrqRoute.CHIP_IOAPIC, gsi));
            if (gsi < 8) {
                out.add(new IrqRoute.Irqchip(gsi, IrqRoute.CHIP_PIC_MASTER, gsi));
            } else if (gsi < 16) {
                out.add(new IrqRoute.Irqchip(gsi, IrqRoute.CHIP_PIC_SLAVE, gsi - 8));
            }
        }
        return out;
    }

    /** Reserves a GSI routed to the given message and commits the table. */
    public synchronized int allocateMsi(long address, int data) {
        for (int gsi = FIRST_MSI_GSI; gsi < MAX_GSI; gsi++) {
            if (!msi.containsKey(gsi)) {
                msi.put(gsi, new IrqRoute.Msi(gsi, address, data));
                try {
                    commitTable();
                } catch (RuntimeException e) {
                    msi.remove(gsi);
                    throw e;
                }
                return gsi;
            }
        }
        throw new IllegalStateException("no free GSI for an MSI route");
    }

    /** Re-targets an allocated GSI; commits only if the message changed. */
    public synchronized void updateMsi(int gsi, long address, int data) {
        IrqRoute.Msi old = msi.get(gsi);
        if (old == null) {
            throw new IllegalArgumentException("GSI " + gsi + " is not an allocated MSI route");
        }
        IrqRoute.Msi now = new IrqRoute.Msi(gsi, address, data);
        if (!now.equals(old)) {
            msi.put(gsi, now);
            commitTable();
        }
    }

    public synchronized void release(int gsi) {
        if (msi.remove(gsi) != null) {
            commitTable();
        }
    }

    /** The table as last committed. */
    public synchronized List<IrqRoute> routes() {
        return lastCommitted;
    }

    private void commitTable() {
        List<IrqRoute> table = new ArrayList<>(defaultIrqchipRoutes());
        table.addAll(msi.values());
        commit.accept(table);
        lastCommitted = List.copyOf(table);
    }
}
