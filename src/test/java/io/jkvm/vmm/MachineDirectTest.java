package io.jkvm.vmm;

import io.jkvm.testing.Patience;
import io.jkvm.arch.x86.Layout;
import io.jkvm.device.BusDevice;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.TestGuest;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/** Direct-KVM tests with purpose-built guests: MMIO, IN data, interrupts, faults, pause/resume. */
@Tag("kvm")
class MachineDirectTest {
    private static final Duration WAIT = Patience.seconds(60);

    @BeforeEach
    void kvm() {
        KvmAvailable.assume();
    }

    /** A port/MMIO device that records the last write and answers reads with a fixed value. */
    static final class Probe implements BusDevice {
        final AtomicLong lastWrite = new AtomicLong(-1);
        final AtomicLong lastOffset = new AtomicLong(-1);
        final long readValue;
        final Runnable onWrite;

        Probe(long readValue, Runnable onWrite) {
            this.readValue = readValue;
            this.onWrite = onWrite;
        }

        public long read(long offset, int size) {
            return readValue;
        }

        public void write(long offset, int size, long value) {
            lastOffset.set(offset);
            lastWrite.set(value);
            onWrite.run();
        }
    }

    @Test
    void mmioReadsAndWritesAreDispatchedWithOffsetsAndData() throws Exception {
        // 32-bit protected mode: read a dword from MMIO, add 1, write it to another MMIO offset.
        byte[] code = TestGuest.assemble("""
                .code32
                    mov 0xd0000010, %eax
                    add $1, %eax
                    mov %eax, 0xd0000020
                    hlt
                """, 0x1000);
        try (Machine m = Machine.create(new Machine.Options(1, 4 << 20, false, io.jkvm.memory.RamBacking.PAGES))) {
            Probe probe = new Probe(0x1234_5677L, () -> { });
            m.mmio().register(0xd000_0000L, 0x1000, probe);
            TestGuest.startProtectedMode(m.vcpus().get(0), m.memory(), code, 0x1000);
            m.start();
            assertThat(m.awaitExit(WAIT).reason()).isEqualTo(StopReason.HALTED);
            assertThat(probe.lastOffset.get()).isEqualTo(0x20);
            assertThat(probe.lastWrite.get()).isEqualTo(0x1234_5678L);
        }
    }

    @Test
    void inInstructionsReceiveDeviceData() throws Exception {
        byte[] code = TestGuest.assemble("""
                .code16
                    mov $0x510, %dx
                    in %dx, %ax
                    mov $0x512, %dx
                    out %ax, %dx
                    hlt
                """, 0x1000);
        try (Machine m = Machine.create(new Machine.Options(1, 2 << 20, false, io.jkvm.memory.RamBacking.PAGES))) {
            Probe in = new Probe(0xbeef, () -> { });
            Probe out = new Probe(0, () -> { });
            m.pio().register(0x510, 2, in);
            m.pio().register(0x512, 2, out);
            TestGuest.startRealMode(m.vcpus().get(0), m.memory(), code, 0x1000);
            m.start();
            assertThat(m.awaitExit(WAIT).reason()).isEqualTo(StopReason.HALTED);
            assertThat(out.lastWrite.get()).isEqualTo(0xbeef);
        }
    }

    @Test
    void tripleFaultIsReportedWithRegisters() throws Exception {
        // With an empty IDT the #UD cannot be delivered: #GP, then #DF, then shutdown.
        byte[] code = TestGuest.assemble("""
                .code32
                    ud2
                    hlt
                """, 0x1000);
        try (Machine m = Machine.create(new Machine.Options(1, 2 << 20, false, io.jkvm.memory.RamBacking.PAGES))) {
            TestGuest.startProtectedMode(m.vcpus().get(0), m.memory(), code, 0x1000);
            var sregs = m.vcpus().get(0).getSregs();
            sregs.idt(0, 0);
            m.vcpus().get(0).setSregs(sregs);
            m.start();
            MachineExit exit = m.awaitExit(WAIT);
            assertThat(exit.reason()).as(exit.detail()).isEqualTo(StopReason.TRIPLE_FAULT);
            assertThat(exit.detail()).contains("triple fault").contains("rip=").contains("cr0=");
        }
    }

    @Test
    void msiIsDeliveredToTheGuestLapicAndHandled() throws Exception {
        // 32-bit guest with an in-kernel LAPIC: installs an IDT gate for vector 0x40, enables the
        // LAPIC, reports ready on port 0x520 and halts. The handler writes 0x40 to port 0x521,
        // acknowledges (EOI) and returns with popf/ret (IRET is not emulated in this mode on PVM).
        byte[] code = TestGuest.assemble("""
                .code32
                    lidt idtr
                    movl $0x1ff, 0xfee000f0      # SVR: APIC software enable, spurious vector 0xff
                    mov $0x520, %dx
                    mov $1, %al
                    out %al, %dx
                    sti
                wait:
                    hlt
                    jmp wait
                handler:
                    push %eax
                    push %edx
                    mov $0x521, %dx
                    mov $0x40, %al
                    out %al, %dx
                    movl $0, 0xfee000b0          # EOI
                    pop %edx
                    pop %eax
                    # Frame: [esp]=eip [esp+4]=cs [esp+8]=eflags -> rearrange for popf; ret.
                    push %eax
                    mov 12(%esp), %eax
                    xchg %eax, 4(%esp)
                    mov %eax, 12(%esp)
                    pop %eax
                    add $4, %esp
                    popf
                    ret
                .align 8
                idt:
                    .fill 0x40, 8, 0
                    .word handler
                    .word 0x08
                    .word 0x8e00
                    .word 0
                idt_end:
                idtr:
                    .word idt_end - idt - 1
                    .long idt
                """, 0x1000);
        try (Machine m = Machine.create(new Machine.Options(1, 4 << 20, true, io.jkvm.memory.RamBacking.PAGES))) {
            CountDownLatch ready = new CountDownLatch(1);
            CountDownLatch handled = new CountDownLatch(1);
            Probe readyPort = new Probe(0, ready::countDown);
            Probe handledPort = new Probe(0, handled::countDown);
            m.pio().register(0x520, 1, readyPort);
            m.pio().register(0x521, 1, handledPort);
            TestGuest.startProtectedMode(m.vcpus().get(0), m.memory(), code, 0x1000);
            m.start();
            assertThat(ready.await(WAIT.toSeconds(), TimeUnit.SECONDS)).as("guest ready").isTrue();
            // MSI address: 0xFEE00000 | destination APIC ID 0 << 12; data: fixed delivery, vector 0x40.
            m.vm().signalMsi(Layout.LAPIC_BASE, 0x40);
            assertThat(handled.await(WAIT.toSeconds(), TimeUnit.SECONDS)).as("interrupt handled").isTrue();
            assertThat(handledPort.lastWrite.get()).isEqualTo(0x40);
        }
    }

    @Test
    void pauseQuiescesEveryVcpuAndResumeContinues() throws Exception {
        // Two vCPUs without an irqchip, each counting in its own memory word forever.
        byte[] code = TestGuest.assemble("""
                .code32
                loop:
                    incl (%ebx)
                    jmp loop
                """, 0x1000);
        try (Machine m = Machine.create(new Machine.Options(2, 4 << 20, false, io.jkvm.memory.RamBacking.PAGES))) {
            for (int i = 0; i < 2; i++) {
                TestGuest.startProtectedMode(m.vcpus().get(i), m.memory(), code, 0x1000);
                var r = m.vcpus().get(i).getRegs();
                r.rbx(0x3000 + 64L * i);
                m.vcpus().get(i).setRegs(r);
            }
            m.start();
            awaitCounter(m, 0x3000, 1);
            awaitCounter(m, 0x3040, 1);
            m.pause();
            assertThat(m.isPaused()).isTrue();
            int a = m.memory().readInt(0x3000);
            int b = m.memory().readInt(0x3040);
            // While paused no vCPU runs, so the counters cannot move; read them repeatedly.
            for (int i = 0; i < 1000; i++) {
                assertThat(m.memory().readInt(0x3000)).isEqualTo(a);
                assertThat(m.memory().readInt(0x3040)).isEqualTo(b);
            }
            m.resume();
            awaitCounter(m, 0x3000, a + 1);
            awaitCounter(m, 0x3040, b + 1);
            m.requestStop(StopReason.STOPPED, "test done");
            assertThat(m.awaitExit(WAIT).reason()).isEqualTo(StopReason.STOPPED);
        }
    }

    /** Waits until a guest counter reaches {@code atLeast} (the guest's progress is the event). */
    private static void awaitCounter(Machine m, long gpa, int atLeast) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (Integer.compareUnsigned(m.memory().readInt(gpa), atLeast) < 0) {
            assertThat(System.nanoTime()).as("counter at 0x%x reaches %d", gpa, atLeast).isLessThan(deadline);
            Thread.onSpinWait();
        }
    }
}
