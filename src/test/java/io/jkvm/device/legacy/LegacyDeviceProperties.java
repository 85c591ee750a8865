package io.jkvm.device.legacy;

import static org.assertj.core.api.Assertions.assertThat;

import io.jkvm.device.AccessOp;
import io.jkvm.device.BusDevice;
import io.jkvm.device.RecordingIrqLine;
import java.io.OutputStream;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/** Random guest access sequences against each legacy device: no exceptions, reads within size. */
class LegacyDeviceProperties {
    static final long MIB = 1024 * 1024;

    @Provide
    Arbitrary<List<AccessOp>> ops() {
        return AccessOp.sequences(-2, 10);
    }

    @Provide
    Arbitrary<List<AccessOp>> hostileOps() {
        return AccessOp.hostileSequences(-2, 10);
    }

    static void check(BusDevice dev, List<AccessOp> ops) {
        for (AccessOp op : ops) {
            long v = op.applyTo(dev);
            if (!op.write()) {
                assertThat(v & ~AccessOp.mask(op.size())).as("%s -> %x", op, v).isZero();
            }
        }
    }

    static void survive(BusDevice dev, List<AccessOp> ops) {
        for (AccessOp op : ops) {
            op.applyTo(dev);
        }
    }

    static Serial16550 serial() {
        return new Serial16550(new RecordingIrqLine(), OutputStream.nullOutputStream());
    }

    static I8042 i8042() {
        return new I8042(new RecordingIrqLine(), new RecordingIrqLine(), () -> {});
    }

    static CmosRtc rtc() {
        return new CmosRtc(Clock.fixed(Instant.parse("2030-12-31T23:59:59Z"), ZoneOffset.UTC), 256 * MIB, 0);
    }

    static AcpiPmDevice acpi() {
        return new AcpiPmDevice(() -> {}, () -> {});
    }

    @Property(tries = 300)
    void serialReadsStayInRange(@ForAll("ops") List<AccessOp> ops) {
        Serial16550 uart = serial();
        check(uart, ops);
        // Interleaved host input never fails either.
        assertThat(uart.receive(new byte[32], 0, 32)).isBetween(0, Serial16550.FIFO_SIZE);
        check(uart, ops);
    }

    @Property(tries = 300)
    void serialIrqLineAlternates(@ForAll("ops") List<AccessOp> ops) {
        RecordingIrqLine irq = new RecordingIrqLine();
        Serial16550 uart = new Serial16550(irq, OutputStream.nullOutputStream());
        for (AccessOp op : ops) {
            op.applyTo(uart);
            uart.receive(new byte[] {1}, 0, 1);
        }
        List<Boolean> levels = irq.levels();
        for (int i = 0; i < levels.size(); i++) {
            assertThat(levels.get(i)).as("level change %d", i).isEqualTo(i % 2 == 0);
        }
    }

    @Property(tries = 300)
    void serialStateRoundTrips(@ForAll("ops") List<AccessOp> ops) {
        Serial16550 uart = serial();
        survive(uart, ops);
        Serial16550.State s = uart.save();
        Serial16550 copy = Serial16550.restore(h -> { }, java.io.OutputStream.nullOutputStream(), s);
        assertThat(copy.save()).isEqualTo(s);
    }

    @Property(tries = 300)
    void i8042ReadsStayInRange(@ForAll("ops") List<AccessOp> ops) {
        check(i8042(), ops);
    }

    @Property(tries = 300)
    void rtcReadsStayInRange(@ForAll("ops") List<AccessOp> ops) {
        check(rtc(), ops);
    }

    @Property(tries = 300)
    void acpiReadsStayInRange(@ForAll("ops") List<AccessOp> ops) {
        check(acpi(), ops);
    }

    @Property(tries = 200)
    void hostileSizesNeverThrow(@ForAll("hostileOps") List<AccessOp> ops) {
        survive(serial(), ops);
        survive(i8042(), ops);
        survive(rtc(), ops);
        survive(acpi(), ops);
    }
}
