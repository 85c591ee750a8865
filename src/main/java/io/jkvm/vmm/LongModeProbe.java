package io.jkvm.vmm;

import io.jkvm.arch.x86.Layout;
import io.jkvm.kvm.Kvm;
import io.jkvm.kvm.StructBuffer;
import io.jkvm.kvm.Regs;
import io.jkvm.kvm.Sregs;
import io.jkvm.kvm.VcpuFd;
import io.jkvm.memory.GuestMemory;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Tells whether a standard 64-bit guest can run on this /dev/kvm, by doing what every Linux
 * kernel does early: run paged long-mode code at 0xffffffff81000000 (the top 2 GiB), at native
 * speed, and take an interrupt through a 64-bit IDT. The probe times a two-instruction loop, then
 * enables interrupts and halts; the host sends an MSI; the handler writes to a port.
 * PVM-backed KVM runs non-PVM guests through its instruction emulator (a few million
 * instructions per second), so the loop alone tells: measured here ~4 M/s against ~1000+ M/s
 * on hardware-assisted KVM.
 */
public final class LongModeProbe {
    private LongModeProbe() {}

    /** The outcome: whether it ran, and what happened otherwise. */
    public record Result(boolean runs, String detail) {}

    private static final long KERNEL_VA = 0xffff_ffff_8100_0000L;
    private static final long CODE_PA = 0x20_0000L;
    private static final int PROBE_PORT = 0x510;
    private static final long PML4 = 0x1000, PDPT = 0x2000, PD = 0x3000, LOW_PDPT = 0x4000, LOW_PD = 0x5000;
    private static final long GDT = 0x6000, IDT = 0x7000;
    private static final int VECTOR = 0x40;
    /** Loop iterations (two instructions each): ~1 ms on hardware, ~0.5 s under an instruction emulator. */
    private static final int LOOPS = 1_000_000;
    /** Slower than this (20 M instructions/s) means instructions are emulated one by one. */
    private static final long EMULATED_NANOS = 100_000_000L;

    public static Result run(Kvm kvm, Duration timeout) {
        try (Machine m = Machine.create(kvm, new Machine.Options(1, 4 << 20, true, false))) {
            CountDownLatch arrived = new CountDownLatch(1);
            CountDownLatch loopDone = new CountDownLatch(1);
            m.pio().register(PROBE_PORT, 1, new io.jkvm.device.BusDevice() {
                public long read(long offset, int size) {
                    return 0;
                }

                public void write(long offset, int size, long value) {
                    if (value == 0x2b) {
                        loopDone.countDown();
                    }
                    if (value == 0x2a) {
                        arrived.countDown();
                    }
                }
            });
            GuestMemory mem = m.memory();
            // Main: mov $LOOPS,%ecx; 1: dec %ecx; jnz 1b; mov $0x510,%dx; mov $0x2b,%al; out; sti; 2: hlt; jmp 2b
            mem.write(CODE_PA, new byte[] {(byte) 0xb9, (byte) LOOPS, (byte) (LOOPS >> 8), (byte) (LOOPS >> 16), (byte) (LOOPS >> 24),
                    (byte) 0xff, (byte) 0xc9, 0x75, (byte) 0xfc,
                    0x66, (byte) 0xba, 0x10, 0x05, (byte) 0xb0, 0x2b, (byte) 0xee,
                    (byte) 0xfb, (byte) 0xf4, (byte) 0xeb, (byte) 0xfd});
            // Handler at +0x100: mov $0x510,%dx; mov $0x2a,%al; out %al,(%dx); 1: hlt; jmp 1b
            mem.write(CODE_PA + 0x100, new byte[] {0x66, (byte) 0xba, 0x10, 0x05, (byte) 0xb0, 0x2a, (byte) 0xee,
                    (byte) 0xf4, (byte) 0xeb, (byte) 0xfd});
            // Paging: the first 2 MiB identity-mapped (GDT, IDT, stack), and one 2 MiB page at
            // KERNEL_VA -> CODE_PA via PML4[511], PDPT[510], PD[8].
            mem.writeLong(PML4, LOW_PDPT | 0x3);
            mem.writeLong(LOW_PDPT, LOW_PD | 0x3);
            mem.writeLong(LOW_PD, 0x83);
            mem.writeLong(PML4 + 511 * 8, PDPT | 0x3);
            mem.writeLong(PDPT + 510 * 8, PD | 0x3);
            mem.writeLong(PD + 8 * 8, CODE_PA | 0x83);
            // GDT: null, null, 64-bit code at 0x10, data at 0x18.
            mem.writeLong(GDT + 0x10, 0x00af9b000000ffffL);
            mem.writeLong(GDT + 0x18, 0x00cf93000000ffffL);
            // 64-bit interrupt gate for VECTOR (Intel SDM vol. 3, 6.14.1).
            long handler = KERNEL_VA + 0x100;
            long gate = IDT + VECTOR * 16L;
            mem.writeShort(gate, (short) handler);
            mem.writeShort(gate + 2, (short) 0x10);
            mem.writeShort(gate + 4, (short) 0x8e00);
            mem.writeShort(gate + 6, (short) (handler >>> 16));
            mem.writeInt(gate + 8, (int) (handler >>> 32));
            VcpuFd vcpu = m.vcpus().get(0);
            Sregs s = vcpu.getSregs();
            s.cs(new Sregs.Seg(0, 0xffffffff, 0x10, 0xb, true, 0, false, true, true, true, false, false));
            s.dataSegments(new Sregs.Seg(0, 0xffffffff, 0x18, 0x3, true, 0, true, true, false, true, false, false));
            s.gdt(GDT, 0x1f);
            s.idt(IDT, 256 * 16 - 1);
            s.cr3(PML4);
            s.cr4(0x20); // PAE
            s.cr0(0x8000_0011L); // PG | ET | PE
            s.efer(0x500); // LME | LMA
            vcpu.setSregs(s);
            Regs r = new Regs();
            r.rip(KERNEL_VA);
            r.rflags(2);
            r.rsp(0x8000);
            vcpu.setRegs(r);
            // Software-enable the local APIC (spurious-interrupt vector register, bit 8).
            StructBuffer lapic = vcpu.getLapic();
            lapic.u32(0xf0, lapic.u32(0xf0) | 0x1ff);
            vcpu.setLapic(lapic);
            long t0 = System.nanoTime();
            m.start();
            boolean looped = loopDone.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
            long loopNanos = System.nanoTime() - t0;
            if (!looped) {
                return new Result(false, "a paged 64-bit guest at 0x" + Long.toHexString(KERNEL_VA)
                        + " made no progress within " + timeout.toMillis() + " ms");
            }
            double mips = (2.0 * LOOPS) / (loopNanos / 1000.0);
            if (loopNanos > EMULATED_NANOS) {
                return new Result(false, String.format(
                        "64-bit guest code runs at ~%.1f M instructions/s: it is being emulated, not executed"
                                + " (a Linux boot would take hours)", mips));
            }
            m.vm().signalMsi(Layout.LAPIC_BASE, VECTOR);
            boolean ok = arrived.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (ok) {
                return new Result(true, String.format("a paged 64-bit guest at 0x%x ran at ~%.0f M instructions/s"
                        + " and took an interrupt through its IDT", KERNEL_VA, mips));
            }
            MachineExit exit = m.awaitExit(Duration.ofMillis(1));
            String why = exit == null ? "no progress within " + timeout.toMillis() + " ms"
                    : exit.reason() + ": " + exit.detail().lines().findFirst().orElse("");
            return new Result(false, "a 64-bit guest did not take an interrupt through its IDT (" + why + ")");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(false, "interrupted");
        }
    }
}
