package io.jkvm.snapshot;

import io.jkvm.vmm.Machine;

/**
 * The parts of a machine's configuration a snapshot depends on. A snapshot restores only onto a
 * machine with the same configuration; {@link #incompatibility} says why not.
 */
public record MachineConfig(int cpus, long memoryBytes, boolean irqchip) {
    /** Upper bounds applied to untrusted input before anything is allocated. */
    static final int MAX_CPUS = 1024;
    static final long MAX_MEMORY = 1L << 46; // 64 TiB, above any x86 guest jkvm can create

    public MachineConfig {
        if (cpus < 1 || cpus > MAX_CPUS) {
            throw new IllegalArgumentException("vCPU count " + cpus + " outside 1.." + MAX_CPUS);
        }
        if (memoryBytes <= 0 || memoryBytes > MAX_MEMORY || (memoryBytes & 0xfff) != 0) {
            throw new IllegalArgumentException("memory size " + memoryBytes + " is not a positive multiple of 4 KiB up to 64 TiB");
        }
    }

    public static MachineConfig of(Machine.Options o) {
        return new MachineConfig(o.cpus(), o.memoryBytes(), o.irqchip());
    }

    /** Machine options that recreate this configuration (no huge pages: RAM comes from the file). */
    public Machine.Options toOptions() {
        return new Machine.Options(cpus, memoryBytes, irqchip, io.jkvm.memory.RamBacking.PAGES);
    }

    /** Why a snapshot with this configuration cannot be restored onto {@code target}, or null if it can. */
    public String incompatibility(Machine.Options target) {
        if (cpus != target.cpus()) {
            return "snapshot has " + plural(cpus, "vCPU") + ", this VM has " + target.cpus();
        }
        if (memoryBytes != target.memoryBytes()) {
            return "snapshot has " + memoryBytes + " bytes of guest memory, this VM has " + target.memoryBytes();
        }
        if (irqchip != target.irqchip()) {
            return "snapshot was taken " + (irqchip ? "with" : "without") + " the in-kernel irqchip, this VM has "
                    + (target.irqchip() ? "one" : "none");
        }
        return null;
    }

    private static String plural(int n, String what) {
        return n + " " + what + (n == 1 ? "" : "s");
    }
}
