package io.jkvm.device.legacy;

import static io.jkvm.device.legacy.I8042.*;
import static org.assertj.core.api.Assertions.assertThat;

import io.jkvm.device.RecordingIrqLine;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class I8042Test {
    RecordingIrqLine kbdIrq;
    RecordingIrqLine auxIrq;
    AtomicInteger resets;
    I8042 kbc;

    @BeforeEach
    void setUp() {
        kbdIrq = new RecordingIrqLine();
        auxIrq = new RecordingIrqLine();
        resets = new AtomicInteger();
        kbc = new I8042(kbdIrq, auxIrq, resets::incrementAndGet);
    }

    void command(int c) {
        kbc.write(COMMAND_OFFSET, 1, c);
    }

    void data(int d) {
        kbc.write(DATA_OFFSET, 1, d);
    }

    int status() {
        return (int) kbc.read(COMMAND_OFFSET, 1);
    }

    int readData() {
        return (int) kbc.read(DATA_OFFSET, 1);
    }

    /** What Linux's i8042_flush does: drain while OBF is set. */
    List<Integer> drain() {
        List<Integer> out = new ArrayList<>();
        while ((status() & STATUS_OBF) != 0 && out.size() < 100) {
            out.add(readData());
        }
        return out;
    }

    @Test
    void pulseResetCommandInvokesCallback() {
        command(0xfe);
        assertThat(resets.get()).isEqualTo(1);
        command(0xff); // pulses no line
        assertThat(resets.get()).isEqualTo(1);
    }

    @Test
    void writingOutputPortWithResetBitClearResets() {
        command(0xd1);
        data(OUTPORT_RESET | OUTPORT_A20);
        assertThat(resets.get()).isZero();
        command(0xd0);
        assertThat(readData() & 0x03).isEqualTo(0x03);
        command(0xd1);
        data(OUTPORT_A20);
        assertThat(resets.get()).isEqualTo(1);
    }

    @Test
    void selfTestAndInterfaceTests() {
        assertThat(status() & STATUS_OBF).isZero();
        command(0xaa);
        assertThat(status() & (STATUS_OBF | STATUS_AUX_OBF)).isEqualTo(STATUS_OBF);
        assertThat(readData()).isEqualTo(0x55);
        assertThat(status() & STATUS_SYS).isEqualTo(STATUS_SYS);
        command(0xab);
        assertThat(drain()).containsExactly(0x00);
        command(0xa9);
        assertThat(drain()).containsExactly(0x00);
    }

    @Test
    void commandByteReadWriteAndPortEnables() {
        command(0x60);
        data(0x47);
        command(0x20);
        assertThat(drain()).containsExactly(0x47);
        command(0xad);
        command(0xa7);
        assertThat(kbc.commandByte() & (CTR_KBD_DISABLE | CTR_AUX_DISABLE)).isEqualTo(CTR_KBD_DISABLE | CTR_AUX_DISABLE);
        command(0xae);
        command(0xa8);
        assertThat(kbc.commandByte() & (CTR_KBD_DISABLE | CTR_AUX_DISABLE)).isZero();
        assertThat(status() & STATUS_CMD).isEqualTo(STATUS_CMD);
        data(0xf4);
        assertThat(status() & STATUS_CMD).isZero();
    }

    @Test
    void emptyDataPortReturnsLastValue() {
        assertThat(readData()).isZero();
        command(0xaa);
        assertThat(readData()).isEqualTo(0x55);
        assertThat(readData()).isEqualTo(0x55);
        assertThat(status() & STATUS_OBF).isZero();
    }

    @Test
    void keyboardIdentifiesAndAcknowledges() {
        data(0xf2);
        assertThat(drain()).containsExactly(0xfa, 0xab, 0x83);
        data(0xed);
        data(0x02);
        assertThat(drain()).containsExactly(0xfa, 0xfa);
        data(0xff);
        assertThat(drain()).containsExactly(0xfa, 0xaa);
        data(0xee);
        assertThat(drain()).containsExactly(0xee);
        data(0xf0);
        data(0x00);
        assertThat(drain()).containsExactly(0xfa, 0xfa, 0x02);
    }

    @Test
    void keyboardIrqGivesAnEdgePerByte() {
        data(0xf2); // default command byte has KBD_INT
        drain();
        assertThat(kbdIrq.levels()).containsExactly(true, false, true, false, true, false);
        assertThat(auxIrq.levels()).isEmpty();
    }

    @Test
    void keyboardIrqFollowsCommandByteEnable() {
        command(0x60);
        data(0x00);
        command(0xaa);
        assertThat(kbdIrq.levels()).isEmpty();
        command(0x60);
        data(CTR_KBD_INT); // enabling with data pending raises the line
        assertThat(kbdIrq.levels()).containsExactly(true);
        readData();
        assertThat(kbdIrq.level()).isFalse();
    }

    @Test
    void auxLoopbackAndAbsentMouse() {
        command(0x60);
        data(CTR_KBD_INT | CTR_AUX_INT);
        command(0xd3);
        data(0x5a);
        assertThat(status() & (STATUS_OBF | STATUS_AUX_OBF)).isEqualTo(STATUS_OBF | STATUS_AUX_OBF);
        assertThat(auxIrq.level()).isTrue();
        assertThat(readData()).isEqualTo(0x5a);
        assertThat(auxIrq.levels()).containsExactly(true, false);

        command(0xd4);
        data(0xff); // mouse reset: nobody there
        assertThat(status() & STATUS_AUX_OBF).isEqualTo(STATUS_AUX_OBF);
        assertThat(readData()).isEqualTo(0xfe);
    }

    @Test
    void outputQueueIsBounded() {
        for (int i = 0; i < 100; i++) {
            command(0x20);
        }
        assertThat(drain()).hasSize(16);
    }

    @Test
    void otherOffsetsAreIgnored() {
        assertThat(kbc.read(1, 1)).isEqualTo(0xff);
        kbc.write(2, 1, 0xfe);
        kbc.write(-4, 1, 0xfe);
        assertThat(resets.get()).isZero();
        assertThat(status() & STATUS_OBF).isZero();
    }

    @Test
    void throwingResetCallbackDoesNotReachTheGuest() {
        I8042 k = new I8042(kbdIrq, auxIrq, () -> {
            throw new IllegalStateException("boom");
        });
        k.write(COMMAND_OFFSET, 1, 0xfe);
        assertThat(k.read(COMMAND_OFFSET, 1) & STATUS_OBF).isZero();
    }
}
