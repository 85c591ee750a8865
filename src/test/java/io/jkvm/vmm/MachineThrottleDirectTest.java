package io.jkvm.vmm;

import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.TestGuest;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Auto-converge's vCPU throttle slows a guest that never exits to userspace, and lifting it restores the speed. */
@Tag("kvm")
class MachineThrottleDirectTest {
    @BeforeEach
    void kvm() {
        KvmAvailable.assume();
    }

    /** Guest increments per second over a {@code millis} window (a rate measurement, not synchronization). */
    private static double rate(Machine m, long millis) throws InterruptedException {
        int a = m.memory().readInt(0x3000);
        long t = System.nanoTime();
        Thread.sleep(millis);
        int b = m.memory().readInt(0x3000);
        return (b - a) * 1e9 / (System.nanoTime() - t);
    }

    @Test
    void aThrottledGuestRunsSlower() throws Exception {
        byte[] code = TestGuest.assemble("""
                .code32
                    mov $0x3000, %ebx
                loop:
                    incl (%ebx)
                    jmp loop
                """, 0x1000);
        try (Machine m = Machine.create(new Machine.Options(1, 2 << 20, false, io.jkvm.memory.RamBacking.PAGES))) {
            TestGuest.startProtectedMode(m.vcpus().getFirst(), m.memory(), code, 0x1000);
            m.start();
            rate(m, 200); // warm up
            double full = rate(m, 1000);
            m.setThrottle(80);
            rate(m, 200);
            double throttled = rate(m, 1000);
            m.setThrottle(0);
            rate(m, 200);
            double again = rate(m, 1000);
            System.out.printf("throttle: %.0f/s at 0%%, %.0f/s at 80%%, %.0f/s after lifting it%n", full, throttled, again);
            assertThat(throttled).isLessThan(full * 0.6);
            assertThat(again).isGreaterThan(throttled * 1.5);
            assertThatThrownBy(() -> m.setThrottle(100)).hasMessageContaining("0..99");
        }
    }
}
