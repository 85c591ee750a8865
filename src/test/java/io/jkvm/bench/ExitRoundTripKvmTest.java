package io.jkvm.bench;

import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.TestGuest;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.PrintStream;

import static org.assertj.core.api.Assertions.assertThat;

/** The exit-round-trip figure with a tiny loop: both jkvm and the C floor measured, values sane. */
@Tag("kvm")
class ExitRoundTripKvmTest {
    @Test
    void portAndMmioExitsAreMeasuredForJkvmAndTheFloor() throws Exception {
        KvmAvailable.assume();
        Assumptions.assumeTrue(TestGuest.onPath("gcc"), "gcc not installed: the C floor cannot be built");
        Assumptions.assumeTrue(TestGuest.onPath("as") && TestGuest.onPath("ld"), "binutils not installed");
        try (BenchContext ctx = BenchContext.create(2, true, 640, new PrintStream(PrintStream.nullOutputStream()))) {
            for (BenchGuest.Kind kind : new BenchGuest.Kind[] {BenchGuest.Kind.PIO, BenchGuest.Kind.MMIO}) {
                ExitRoundTripMetric.Samples s = new ExitRoundTripMetric(kind).measure(ctx, false);
                assertThat(s.jkvm()).hasSize(2).allSatisfy(v -> assertThat(v).isPositive().isFinite());
                assertThat(s.floor()).hasSize(2).allSatisfy(v -> assertThat(v).isPositive().isFinite());
                assertThat(s.qemu()).isEmpty();
            }
        }
    }
}
