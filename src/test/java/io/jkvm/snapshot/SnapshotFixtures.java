package io.jkvm.snapshot;

import io.jkvm.kvm.KvmStructs;
import io.jkvm.kvm.MsrEntry;
import io.jkvm.memory.GuestRam;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/** Snapshots built without KVM: synthetic vCPU state plus real (anonymous) guest RAM. */
final class SnapshotFixtures {
    private SnapshotFixtures() {}

    static final SnapshotKey KEY = SnapshotKey.of(bytes(32, 7));
    static final SnapshotKey OTHER_KEY = SnapshotKey.of(bytes(32, 9));
    static final long RAM = 2 << 20;

    static byte[] bytes(int n, int seed) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (seed * 31 + i * 7);
        }
        return b;
    }

    static VmState state(int cpus, boolean irqchip) {
        List<VcpuState> vcpus = new java.util.ArrayList<>();
        for (int i = 0; i < cpus; i++) {
            vcpus.add(new VcpuState(i, bytes(KvmStructs.REGS_SIZE, i), bytes(KvmStructs.SREGS_SIZE, i + 1),
                    bytes(KvmStructs.FPU_SIZE, i + 2), null, bytes(KvmStructs.XCRS_SIZE, 3),
                    List.of(new MsrEntry(0x10, 12345), new MsrEntry(0xc0000080, 0x500)),
                    irqchip ? bytes(KvmStructs.LAPIC_SIZE, 4) : null, bytes(KvmStructs.VCPU_EVENTS_SIZE, 5), 0,
                    bytes(KvmStructs.DEBUGREGS_SIZE, 6),
                    List.of(new io.jkvm.kvm.CpuidEntry(0, 0, 0, 0xd, 0x68747541, 0x444d4163, 0x69746e65))));
        }
        List<byte[]> chips = List.of();
        if (irqchip) {
            chips = new java.util.ArrayList<>();
            for (int c = 0; c < 3; c++) {
                byte[] chip = bytes(KvmStructs.IRQCHIP_SIZE, 10 + c);
                Arrays.fill(chip, 0, 4, (byte) 0);
                chip[0] = (byte) c;
                chips.add(chip);
            }
        }
        return new VmState(new MachineConfig(cpus, RAM, irqchip), vcpus, chips,
                irqchip ? bytes(KvmStructs.PIT_STATE2_SIZE, 20) : null, bytes(KvmStructs.CLOCK_DATA_SIZE, 21));
    }

    /** Writes a snapshot of {@code state} with RAM filled from {@code seed}. */
    static void write(VmState state, int seed, Path stateFile, Path memFile, SnapshotKey key, Protection p,
            List<DeviceState> devices) throws IOException {
        try (GuestRam ram = GuestRam.allocate(state.config().memoryBytes(), io.jkvm.memory.RamBacking.PAGES)) {
            fill(ram, seed);
            Snapshots.write(state, ram.memory(), devices, stateFile, memFile, key, p, System.nanoTime());
        }
    }

    static void fill(GuestRam ram, int seed) {
        long size = ram.memory().size();
        for (long a = 0; a < size; a += 4096) {
            ram.memory().writeLong(a, a * 0x9e3779b97f4a7c15L + seed);
        }
    }
}
