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
 * kernel does early: run paged long-mode code at 0xffffffff81000000 (the top 2 GiB, where
 * x86-64 kernels are linked), take an interrupt through a 64-bit IDT and return from it with
 * IRETQ. The probe runs a three-instruction loop there, reports that it finished, enables
 * interrupts and spins; the host sends an MSI; the handler sets a flag, writes to a port and
 * returns; the main code sees the flag and reports that it went on. The guest counts in memory
 * all along, so the host waits for each step as long as the guest makes progress and calls it
 * stuck only when it stops moving (a loaded or emulated host is slow, not broken).
 *
 * <p>The verdict comes from what the guest did, not from how fast it did it: PVM-backed KVM
 * (pagetable-based virtual machine, which runs only PVM-aware kernels natively) runs a non-PVM
 * guest through KVM's instruction emulator, which cannot execute IRET outside real mode, so the
 * return from the interrupt fails (KVM_EXIT_INTERNAL_ERROR). Speed is measured and reported
 * as a figure: under an instruction emulator (PVM) the loop runs at a few million instructions
 * per second, on hardware-assisted KVM at 1000+, nested under software emulation (the lab) in
 * between; a host that runs the probe correctly but slowly still runs stock guests.
 */
public final class LongModeProbe {
    private LongModeProbe() {}

    /**
     * What the probe observed.
     *
     * @param highCodeRan the paged loop at the kernel's address finished
     * @param interruptTaken an MSI reached the handler through the 64-bit IDT
     * @param mips loop speed in millions of instructions per second (0 if it did not finish)
     * @param detail one line for people
     */
    public record Result(boolean highCodeRan, boolean interruptTaken, double mips, String detail) {
        /** Stock 64-bit kernels can run: both things they need early worked. */
        public boolean runs() {
            return highCodeRan && interruptTaken;
        }
    }

    private static final long KERNEL_VA = 0xffff_ffff_8100_0000L;
    private static final long CODE_PA = 0x20_0000L;
    private static final int PROBE_PORT = 0x510;
    private static final long PML4 = 0x1000, PDPT = 0x2000, PD = 0x3000, LOW_PDPT = 0x4000, LOW_PD = 0x5000;
    private static final long GDT = 0x6000, IDT = 0x7000;
    private static final int VECTOR = 0x40;
    /** Where the guest counts, in the identity-mapped low 2 MiB, clear of the tables and the stack. */
    private static final long LOOP_COUNTER = 0x9000, SPIN_COUNTER = 0x9004, RETURNED_FLAG = 0x9008;
    /**
     * Spins with interrupts enabled after the MSI was sent before the probe says no interrupt came:
     * KVM injects it at the next entry, within a few; this is far beyond any scheduling delay.
     */
    private static final long SPIN_LIMIT = 50L * 200_000;
    /** How often the host looks at the guest's counters while it waits. */
    private static final Duration POLL = Duration.ofMillis(200);
    /**
     * Loop iterations (three instructions each): ~0.2 ms on hardware, ~0.1-1 s under an instruction
     * emulator on a busy host. Enough to time; short enough that a slow host is not mistaken
     * for a stuck one.
     */
    private static final int LOOPS = 200_000;

    public static Result run(Kvm kvm, Duration stall) {
        try (Machine m = Machine.create(kvm, new Machine.Options(1, 4 << 20, true, io.jkvm.memory.RamBacking.PAGES))) {
            CountDownLatch arrived = new CountDownLatch(1);
            CountDownLatch loopDone = new CountDownLatch(1);
            CountDownLatch returned = new CountDownLatch(1);
            m.pio().register(PROBE_PORT, 1, new io.jkvm.device.BusDevice() {
                public long read(long offset, int size) {
                    return 0;
                }

                public void write(long offset, int size, long value) {
                    switch ((int) value) {
                        case 0x2b -> loopDone.countDown();
                        case 0x2a -> arrived.countDown();
                        case 0x2c -> returned.countDown();
                        default -> { }
                    }
                }
            });
            GuestMemory mem = m.memory();
            // Main: mov $LOOPS,%ecx; 1: mov %ecx,(LOOP_COUNTER); dec %ecx; jnz 1b;
            //       mov $0x510,%dx; mov $0x2b,%al; out; sti;
            //       2: incl (SPIN_COUNTER); cmpb $0,(RETURNED_FLAG); je 2b;
            //       mov $0x510,%dx; mov $0x2c,%al; out; 3: hlt; jmp 3b
            // The two counters let the host tell a slow guest from a stuck one (await).
            mem.write(CODE_PA, concat(new byte[] {(byte) 0xb9, (byte) LOOPS, (byte) (LOOPS >> 8), (byte) (LOOPS >> 16), (byte) (LOOPS >> 24)},
                    absolute(0x89, 0x0c, LOOP_COUNTER), new byte[] {(byte) 0xff, (byte) 0xc9, 0x75, (byte) 0xf5,
                    0x66, (byte) 0xba, 0x10, 0x05, (byte) 0xb0, 0x2b, (byte) 0xee, (byte) 0xfb},
                    absolute(0xff, 0x04, SPIN_COUNTER), absolute(0x80, 0x3c, RETURNED_FLAG), new byte[] {0x00, 0x74, (byte) 0xef,
                    0x66, (byte) 0xba, 0x10, 0x05, (byte) 0xb0, 0x2c, (byte) 0xee,
                    (byte) 0xf4, (byte) 0xeb, (byte) 0xfd}));
            // Handler at +0x100: movb $1,(RETURNED_FLAG); mov $0x510,%dx; mov $0x2a,%al; out %al,(%dx); iretq.
            // Every kernel returns from interrupts; an instruction emulator that cannot do IRET outside
            // real mode (KVM's, which PVM uses for non-PVM guests) fails here with an emulation error.
            mem.write(CODE_PA + 0x100, concat(absolute(0xc6, 0x04, RETURNED_FLAG), new byte[] {0x01,
                    0x66, (byte) 0xba, 0x10, 0x05, (byte) 0xb0, 0x2a, (byte) 0xee, 0x48, (byte) 0xcf}));
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
            Step loop = await(loopDone, m, mem, LOOP_COUNTER, stall, Long.MAX_VALUE);
            long loopNanos = System.nanoTime() - t0;
            if (loop != Step.DONE) {
                return new Result(false, false, 0, "a paged 64-bit guest at 0x" + Long.toHexString(KERNEL_VA)
                        + " did not finish its loop: " + loop.why(stall) + stopped(m));
            }
            double mips = (3.0 * LOOPS) / (loopNanos / 1000.0);
            m.vm().signalMsi(Layout.LAPIC_BASE, VECTOR);
            String ran = String.format("a paged 64-bit guest at 0x%x ran (~%s M instructions/s)", KERNEL_VA, figure(mips));
            // From here the guest spins with interrupts enabled, counting; KVM injects the pending MSI at
            // the next entry, so a guest that counts SPIN_LIMIT more without taking it never will.
            long limit = Integer.toUnsignedLong(mem.readInt(SPIN_COUNTER)) + SPIN_LIMIT;
            Step taken = await(arrived, m, mem, SPIN_COUNTER, stall, limit);
            if (taken != Step.DONE) {
                return new Result(true, false, mips, ran + " but took no interrupt through its 64-bit IDT: "
                        + taken.why(stall) + stopped(m));
            }
            Step back = await(returned, m, mem, SPIN_COUNTER, stall, Long.MAX_VALUE);
            if (back != Step.DONE) {
                return new Result(true, false, mips, ran + " and took an interrupt, but could not return from it"
                        + " (IRETQ): " + back.why(stall) + stopped(m));
            }
            return new Result(true, true, mips, ran + ", took an interrupt through its IDT and returned from it");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(false, false, 0, "interrupted");
        }
    }

    /** How waiting for one step of the probe ended. */
    private enum Step {
        DONE, STOPPED, STALLED, SPUN;

        String why(Duration stall) {
            return switch (this) {
                case DONE -> "done";
                case STOPPED -> "its vCPU stopped";
                case STALLED -> "its counter did not move for " + stall.toSeconds() + " s";
                case SPUN -> "it counted " + SPIN_LIMIT + " times with interrupts enabled";
            };
        }
    }

    /**
     * Waits for {@code step}, judging the guest by what it does rather than by a total time: it
     * fails when the vCPU stops, when the guest's {@code counter} (unsigned 32 bits) passes
     * {@code limit}, or when the counter has not moved for {@code stall} (the vCPU is stuck, not
     * slow: a slow host still moves it).
     */
    private static Step await(CountDownLatch step, Machine m, GuestMemory mem, long counter, Duration stall, long limit)
            throws InterruptedException {
        long last = Integer.toUnsignedLong(mem.readInt(counter));
        long lastMoved = System.nanoTime();
        while (!step.await(POLL.toMillis(), TimeUnit.MILLISECONDS)) {
            if (m.awaitExit(Duration.ZERO) != null) {
                return step.getCount() == 0 ? Step.DONE : Step.STOPPED;
            }
            long now = Integer.toUnsignedLong(mem.readInt(counter));
            if (now != last) {
                last = now;
                lastMoved = System.nanoTime();
            } else if (System.nanoTime() - lastMoved > stall.toNanos()) {
                return Step.STALLED;
            }
            if (now > limit) {
                return step.getCount() == 0 ? Step.DONE : Step.SPUN;
            }
        }
        return Step.DONE;
    }

    /**
     * An instruction whose memory operand is the absolute 32-bit address {@code addr}: opcode,
     * ModRM (mod 00, rm 100: a SIB follows) and SIB 0x25 (no base, no index: disp32), Intel SDM
     * vol. 2, table 2-3. Any immediate follows.
     */
    private static byte[] absolute(int opcode, int modrm, long addr) {
        return new byte[] {(byte) opcode, (byte) modrm, 0x25, (byte) addr, (byte) (addr >> 8), (byte) (addr >> 16), (byte) (addr >> 24)};
    }

    private static byte[] concat(byte[]... parts) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    private static String figure(double mips) {
        return mips >= 10 ? String.format("%.0f", mips) : String.format("%.1f", mips);
    }

    /** How the probe's vCPU ended, if it did (a triple fault, an emulation failure), for the detail line. */
    private static String stopped(Machine m) throws InterruptedException {
        MachineExit exit = m.awaitExit(Duration.ofMillis(1));
        return exit == null ? "" : " (" + exit.reason() + ": " + exit.detail().lines().findFirst().orElse("") + ")";
    }
}
