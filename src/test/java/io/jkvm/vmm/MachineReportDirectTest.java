package io.jkvm.vmm;

import io.jkvm.arch.x86.Layout;
import io.jkvm.device.BusDevice;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.TestGuest;
import io.jkvm.vmm.diag.MachineReport;
import io.jkvm.vmm.diag.ReportJson;
import io.jkvm.vmm.diag.ReportText;
import io.jkvm.vmm.diag.VcpuReport;
import io.jkvm.vmm.diag.VcpuState;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Direct-KVM: {@link Machine#report} on small guests in the states a stuck VM is found in: a vCPU
 * halted with interrupts off and a vector waiting in its IRR, an AP that never got INIT/SIPI, a
 * paused machine, and a vCPU thread stuck in a device (it cannot answer: its stack is reported).
 */
@Tag("kvm")
class MachineReportDirectTest {
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final Duration ANSWER = Duration.ofSeconds(10);

    @BeforeEach
    void kvm() {
        KvmAvailable.assume();
    }

    @Test
    void aHaltedVcpuWithInterruptsOffShowsItsPendingVectorAndLapicAndTheApWaitsForSipi() throws Exception {
        // vCPU 0: LAPIC on (SVR), TPR 0x20, LVT timer one-shot vector 0x41 (not armed), then cli; hlt.
        byte[] code = TestGuest.assemble("""
                .code32
                    movl $0x1ff, 0xfee000f0      # SVR: software enable, spurious vector 0xff
                    movl $0x20, 0xfee00080       # TPR
                    movl $0x41, 0xfee00320       # LVT timer: one-shot, vector 0x41, unmasked
                    mov $0x520, %dx
                    mov $1, %al
                    out %al, %dx
                    cli
                stop:
                    hlt
                    jmp stop
                """, 0x1000);
        try (Machine m = Machine.create(new Machine.Options(2, 4 << 20, true, io.jkvm.memory.RamBacking.PAGES))) {
            CountDownLatch ready = new CountDownLatch(1);
            m.pio().register(0x520, 1, new Port(ready::countDown));
            TestGuest.startProtectedMode(m.vcpus().get(0), m.memory(), code, 0x1000);
            m.start();
            assertThat(ready.await(WAIT.toSeconds(), TimeUnit.SECONDS)).as("guest ready").isTrue();
            // Fixed delivery of vector 0x50 to APIC ID 0: accepted into the IRR, not delivered (IF=0).
            m.vm().signalMsi(Layout.LAPIC_BASE, 0x50);
            // Also until vCPU 1's thread has reached KVM_RUN (it may still be starting when vCPU 0 is ready).
            MachineReport r = awaitReport(m, rep -> state(rep, 0) != null && state(rep, 0).mpState() == VcpuState.MP_HALTED
                    && state(rep, 0).lapic().irr().contains(0x50) && rep.vcpus().get(1).phase().equals("in-kvm-run"));

            VcpuReport bsp = r.vcpus().get(0);
            assertThat(r.machineState()).isEqualTo("running");
            assertThat(bsp.phase()).isEqualTo("in-kvm-run");
            assertThat(bsp.note()).startsWith("read on its thread");
            assertThat(bsp.exits()).containsKey("IO");
            assertThat(bsp.lastExit()).isIn("IO", "INTR");
            VcpuState s = bsp.state();
            assertThat(s.registers().interruptsEnabled()).isFalse();
            assertThat(s.registers().rip()).isBetween(0x1000L, 0x1000L + code.length);
            assertThat(s.lapic().softwareEnabled()).isTrue();
            assertThat(s.lapic().tpr()).isEqualTo(0x20);
            assertThat(s.lapic().irr()).containsExactly(0x50);
            assertThat(s.lapic().isr()).isEmpty();
            assertThat(s.lapic().timerMode()).isEqualTo("one-shot");
            assertThat(s.lapic().timerVector()).isEqualTo(0x41);
            assertThat(s.events().quiet()).as(ReportText.render(r)).isTrue();
            assertThat(s.msrs()).containsKey("tsc");
            // The AP was never sent INIT/SIPI: KVM keeps it uninitialized inside KVM_RUN.
            assertThat(state(r, 1).mpState()).isEqualTo(VcpuState.MP_UNINITIALIZED);
            assertThat(r.irqchip().ioapic().entries()).hasSize(24);
            assertThat(r.irqchip().kvmclock()).isNotNull();

            String text = ReportText.render(r);
            assertThat(text).contains("vcpu 0: in-kvm-run, mp_state halted").contains("(IF=0)")
                    .contains("irr=[0x50]").contains("tpr=20").contains("one-shot, vector 0x41")
                    .contains("vcpu 1: in-kvm-run, mp_state uninitialized").contains("ioapic:");
            Map<String, Object> json = ReportJson.of(r);
            @SuppressWarnings("unchecked")
            Map<String, Object> v0 = (Map<String, Object>) ((List<Object>) json.get("vcpus")).get(0);
            assertThat(v0.get("mp_state")).isEqualTo("halted");
            assertThat(v0.get("registers")).asInstanceOf(org.assertj.core.api.InstanceOfAssertFactories.MAP)
                    .containsEntry("interrupts_enabled", false);

            // Paused, each vCPU answers where it is parked.
            m.pause();
            MachineReport paused = m.report(ANSWER);
            assertThat(paused.machineState()).isEqualTo("paused");
            assertThat(paused.vcpus()).allSatisfy(v -> {
                assertThat(v.phase()).isEqualTo("parked");
                assertThat(v.state()).isNotNull();
            });
            m.resume();
        }
    }

    @Test
    void aVcpuStuckInADeviceIsReportedWithItsJavaStackAndAnEndedMachineStillReports() throws Exception {
        byte[] code = TestGuest.assemble("""
                .code32
                    mov $0x530, %dx
                    mov $7, %al
                    out %al, %dx
                    hlt
                """, 0x1000);
        try (Machine m = Machine.create(new Machine.Options(1, 2 << 20, false, io.jkvm.memory.RamBacking.PAGES))) {
            CountDownLatch entered = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            m.pio().register(0x530, 1, new StuckDevice(entered, release));
            TestGuest.startProtectedMode(m.vcpus().get(0), m.memory(), code, 0x1000);
            m.start();
            assertThat(entered.await(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();

            MachineReport r = m.report(Duration.ofMillis(300));
            VcpuReport v = r.vcpus().get(0);
            assertThat(v.state()).isNull();
            assertThat(v.phase()).isEqualTo("handling-exit");
            assertThat(v.lastExit()).isEqualTo("IO out port 0x530 size 1 count 1");
            assertThat(v.note()).contains("did not answer within 300 ms");
            assertThat(v.stack()).anySatisfy(f -> assertThat(f).contains("StuckDevice.write"));
            assertThat(ReportText.render(r)).contains("at io.jkvm.vmm.MachineReportDirectTest$StuckDevice.write");

            release.countDown();
            assertThat(m.awaitExit(WAIT).reason()).isEqualTo(StopReason.HALTED);
            MachineReport after = m.report(ANSWER);
            assertThat(after.machineState()).isEqualTo("ended");
            assertThat(after.vcpus().get(0).phase()).isEqualTo("done");
            assertThat(after.vcpus().get(0).note()).contains("read by the reporting thread");
            assertThat(after.vcpus().get(0).state().registers()).isNotNull();
        }
    }

    private static VcpuState state(MachineReport r, int vcpu) {
        return r.vcpus().get(vcpu).state();
    }

    /** Reports until {@code done} holds: the guest's progress (halting) is the event waited for. */
    private static MachineReport awaitReport(Machine m, Predicate<MachineReport> done) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        MachineReport r;
        do {
            r = m.report(ANSWER);
            assertThat(System.nanoTime()).as("report condition; last report:\n%s", ReportText.render(r)).isLessThan(deadline);
        } while (!done.test(r));
        return r;
    }

    /** A port that runs an action on every write. */
    private record Port(Runnable onWrite) implements BusDevice {
        public long read(long offset, int size) {
            return 0;
        }

        public void write(long offset, int size, long value) {
            onWrite.run();
        }
    }

    /** A device whose write blocks until released: a vCPU thread stuck outside KVM_RUN. */
    private record StuckDevice(CountDownLatch entered, CountDownLatch release) implements BusDevice {
        public long read(long offset, int size) {
            return 0;
        }

        public void write(long offset, int size, long value) {
            entered.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
