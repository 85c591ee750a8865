package io.jkvm.device.legacy;

import static io.jkvm.device.legacy.Serial16550.*;
import static org.assertj.core.api.Assertions.assertThat;

import io.jkvm.device.RecordingIrqLine;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class Serial16550Test {
    static final int THR = 0;
    static final int RBR = 0;
    static final int IER = 1;
    static final int IIR = 2;
    static final int FCR = 2;

    /** Counts flushes so tests can check the console is flushed. */
    static final class Sink extends ByteArrayOutputStream {
        int flushes;

        @Override
        public void flush() {
            flushes++;
        }

        String text() {
            return toString(StandardCharsets.ISO_8859_1);
        }
    }

    RecordingIrqLine irq;
    Sink sink;
    Serial16550 uart;

    @BeforeEach
    void setUp() {
        irq = new RecordingIrqLine();
        sink = new Sink();
        uart = new Serial16550(irq, sink);
    }

    int in(int reg) {
        return (int) uart.read(reg, 1);
    }

    void out(int reg, int v) {
        uart.write(reg, 1, v);
    }

    int receive(String s) {
        byte[] b = s.getBytes(StandardCharsets.ISO_8859_1);
        return uart.receive(b, 0, b.length);
    }

    @Test
    void resetValues() {
        assertThat(in(IER)).isZero();
        assertThat(in(IIR)).isEqualTo(IIR_NO_INT);
        assertThat(in(LCR)).isZero();
        assertThat(in(MCR)).isZero();
        assertThat(in(LSR)).isEqualTo(LSR_THRE | LSR_TEMT);
        assertThat(in(MSR)).isEqualTo(MSR_DCD | MSR_DSR | MSR_CTS);
        assertThat(irq.levels()).isEmpty();
    }

    @Test
    void dlabSwitchesOffsetsZeroAndOneToTheDivisorLatch() {
        out(IER, 0x05);
        out(LCR, LCR_DLAB | 0x03);
        out(0, 0x01); // DLL: 115200 baud
        out(1, 0x00); // DLM
        assertThat(in(0)).isEqualTo(0x01);
        assertThat(in(1)).isZero();
        assertThat(sink.size()).as("DLL write is not a transmit").isZero();

        out(LCR, 0x03);
        assertThat(in(IER)).isEqualTo(0x05);
        assertThat(in(LCR)).isEqualTo(0x03);
        out(LCR, LCR_DLAB);
        assertThat(in(0)).isEqualTo(0x01);
    }

    @Test
    void transmitsToTheSinkAndFlushes() {
        for (char c : "hi\n".toCharArray()) {
            out(THR, c);
        }
        assertThat(sink.text()).isEqualTo("hi\n");
        assertThat(sink.flushes).isGreaterThanOrEqualTo(3);
        assertThat(in(LSR) & (LSR_THRE | LSR_TEMT)).isEqualTo(LSR_THRE | LSR_TEMT);
    }

    @Test
    void sinkFailureIsSwallowed() {
        Serial16550 broken = new Serial16550(new RecordingIrqLine(), new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                throw new IOException("console gone");
            }
        });
        broken.write(THR, 1, 'x');
        broken.write(THR, 1, 'y');
        assertThat(broken.read(LSR, 1) & LSR_THRE).isEqualTo(LSR_THRE);
    }

    @Test
    void loopbackRoutesTxToRxAndMsrReflectsMcr() {
        // Linux 8250 autoconfig: MCR = LOOP | OUT2 | RTS must read back MSR[7:4] = DCD | CTS.
        out(MCR, MCR_LOOP | MCR_OUT2 | MCR_RTS);
        assertThat(in(MSR) & 0xf0).isEqualTo(MSR_DCD | MSR_CTS);

        out(MCR, MCR_LOOP | MCR_DTR | MCR_OUT1);
        assertThat(in(MSR) & 0xf0).isEqualTo(MSR_DSR | MSR_RI);

        out(THR, 'A');
        assertThat(sink.size()).isZero();
        assertThat(in(LSR) & LSR_DR).isEqualTo(LSR_DR);
        assertThat(in(RBR)).isEqualTo('A');
        assertThat(in(LSR) & LSR_DR).isZero();

        out(MCR, 0);
        assertThat(in(MSR) & 0xf0).isEqualTo(MSR_DCD | MSR_DSR | MSR_CTS);
        out(THR, 'B');
        assertThat(sink.text()).isEqualTo("B");
    }

    @Test
    void loopbackModemStatusDeltas() {
        out(MCR, MCR_LOOP);
        in(MSR); // entering loopback drops DCD/DSR/CTS: clear those deltas
        out(MCR, MCR_LOOP | MCR_RTS | MCR_OUT1);
        assertThat(in(MSR)).isEqualTo(MSR_CTS | MSR_RI | MSR_DCTS);
        out(MCR, MCR_LOOP); // RI trailing edge sets TERI; CTS drop sets DCTS
        assertThat(in(MSR)).isEqualTo(MSR_DCTS | MSR_TERI);
        assertThat(in(MSR)).as("deltas clear on read").isZero();
    }

    @Test
    void hostInputIsDisconnectedInLoopback() {
        out(MCR, MCR_LOOP);
        assertThat(receive("x")).isZero();
        assertThat(in(LSR) & LSR_DR).isZero();
    }

    @Test
    void fifoKeepsOrderAndReportsFifoBitsInIir() {
        out(FCR, FCR_ENABLE);
        assertThat(in(IIR) & 0xc0).isEqualTo(IIR_FIFO_ENABLED);
        assertThat(receive("hello")).isEqualTo(5);
        StringBuilder got = new StringBuilder();
        while ((in(LSR) & LSR_DR) != 0) {
            got.append((char) in(RBR));
        }
        assertThat(got.toString()).isEqualTo("hello");
        assertThat(in(RBR)).as("empty RBR").isZero();
    }

    @Test
    void receiveTakesOnlyWhatFits() {
        out(FCR, FCR_ENABLE);
        assertThat(receive("0123456789abcdefXYZ")).isEqualTo(FIFO_SIZE);
        assertThat(receive("more")).isZero();
        assertThat(in(RBR)).isEqualTo('0');
        assertThat(receive("QR")).isEqualTo(1);

        out(FCR, 0); // disabling the FIFO clears it; 16450 mode holds one byte
        assertThat(in(LSR) & LSR_DR).isZero();
        assertThat(receive("ab")).isEqualTo(1);
        assertThat(in(LSR) & LSR_OE).as("host input never overruns").isZero();
    }

    @Test
    void fcrClearsRxFifo() {
        out(FCR, FCR_ENABLE);
        receive("abc");
        out(FCR, FCR_ENABLE | FCR_CLEAR_RX | FCR_CLEAR_TX);
        assertThat(in(LSR) & LSR_DR).isZero();
        assertThat(in(IIR) & 0xc0).isEqualTo(IIR_FIFO_ENABLED);
    }

    @Test
    void loopbackOverflowSetsOverrunAndKeepsFifoContents() {
        out(FCR, FCR_ENABLE);
        out(MCR, MCR_LOOP);
        for (int i = 0; i < FIFO_SIZE + 1; i++) {
            out(THR, 'a' + i);
        }
        int lsr = in(LSR);
        assertThat(lsr & (LSR_OE | LSR_DR)).isEqualTo(LSR_OE | LSR_DR);
        assertThat(in(LSR) & LSR_OE).as("OE clears on LSR read").isZero();
        for (int i = 0; i < FIFO_SIZE; i++) {
            assertThat(in(RBR)).isEqualTo('a' + i);
        }
        assertThat(in(LSR) & LSR_DR).isZero();
    }

    @Test
    void overrunWithoutFifoOverwritesHoldingRegister() {
        out(MCR, MCR_LOOP);
        out(THR, 'a');
        out(THR, 'b');
        assertThat(in(LSR) & LSR_OE).isEqualTo(LSR_OE);
        assertThat(in(RBR)).isEqualTo('b');
    }

    @Test
    void interruptPriorityFollowsTheDatasheet() {
        out(FCR, FCR_ENABLE);
        out(MCR, MCR_LOOP);
        in(MSR);
        for (int i = 0; i < FIFO_SIZE + 1; i++) {
            out(THR, 'x'); // fills RX and overruns
        }
        out(MCR, MCR_LOOP | MCR_RTS); // modem status delta
        out(IER, IER_ERBFI | IER_ETBEI | IER_ELSI | IER_EDSSI);

        assertThat(in(IIR)).isEqualTo(IIR_FIFO_ENABLED | IIR_RLS);
        in(LSR); // clears OE
        assertThat(in(IIR)).isEqualTo(IIR_FIFO_ENABLED | IIR_RDA);
        while ((in(LSR) & LSR_DR) != 0) {
            in(RBR);
        }
        assertThat(in(IIR)).isEqualTo(IIR_FIFO_ENABLED | IIR_THRI);
        // Reading IIR with THRI reported cleared it: modem status is next.
        assertThat(in(IIR)).isEqualTo(IIR_FIFO_ENABLED | IIR_MSI);
        in(MSR);
        assertThat(in(IIR)).isEqualTo(IIR_FIFO_ENABLED | IIR_NO_INT);
        assertThat(irq.level()).isFalse();
    }

    @Test
    void disabledSourcesDoNotInterrupt() {
        receive("z");
        assertThat(in(IIR)).isEqualTo(IIR_NO_INT);
        assertThat(irq.levels()).isEmpty();
        out(IER, IER_ERBFI);
        assertThat(in(IIR)).isEqualTo(IIR_RDA);
        assertThat(irq.levels()).containsExactly(true);
    }

    @Test
    void thriIsRaisedOnEnableClearedByIirReadAndRaisedAgainAfterReEnable() {
        // The sequence Linux's serial8250_startup uses to detect UART_BUG_THRE.
        out(IER, IER_ETBEI);
        assertThat(in(IIR)).isEqualTo(IIR_THRI);
        assertThat(in(IIR)).isEqualTo(IIR_NO_INT);
        out(IER, 0);
        out(IER, IER_ETBEI);
        assertThat(in(IIR)).isEqualTo(IIR_THRI);
        assertThat(irq.levels()).containsExactly(true, false, true, false);
    }

    @Test
    void writingThrClearsAndReRaisesThri() {
        out(IER, IER_ETBEI);
        assertThat(irq.levels()).containsExactly(true);
        out(THR, 'a'); // pending THRI: the line drops and rises, giving a fresh edge
        assertThat(irq.levels()).containsExactly(true, false, true);
        in(IIR);
        assertThat(irq.levels()).containsExactly(true, false, true, false);
        out(THR, 'b'); // not pending: only the rise
        assertThat(irq.levels()).containsExactly(true, false, true, false, true);
        assertThat(in(IIR)).isEqualTo(IIR_THRI);
    }

    @Test
    void irqLineOnlyChangesOnTransitions() {
        out(IER, IER_ERBFI);
        receive("a");
        receive("b"); // no FIFO: refused, no change
        out(FCR, FCR_ENABLE); // clears RX: line drops
        receive("cd");
        in(RBR);
        in(RBR);
        assertThat(irq.levels()).containsExactly(true, false, true, false);
    }

    @Test
    void scratchRegisterAndIerMask() {
        out(SCR, 0xa5);
        assertThat(in(SCR)).isEqualTo(0xa5);
        out(IER, 0xff);
        assertThat(in(IER)).isEqualTo(0x0f);
        out(MCR, 0xff);
        assertThat(in(MCR)).isEqualTo(0x1f);
    }

    @Test
    void accessesOutsideTheRegistersAreHarmless() {
        assertThat(uart.read(8, 1)).isEqualTo(0xff);
        assertThat(uart.read(-1, 1)).isEqualTo(0xff);
        uart.write(100, 1, 0x41);
        out(LSR, 0); // read-only
        assertThat(in(LSR)).isEqualTo(LSR_THRE | LSR_TEMT);
        assertThat(sink.size()).isZero();
    }

    @Test
    void awaitRxSpaceBlocksUntilTheGuestDrainsTheFifo() throws Exception {
        out(FCR, FCR_ENABLE);
        assertThat(receive("0123456789abcdef")).isEqualTo(16);
        assertThat(uart.awaitRxSpace(0, TimeUnit.MILLISECONDS)).isFalse();

        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(1);
        AtomicInteger taken = new AtomicInteger(-1);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread pump = new Thread(() -> {
            try {
                started.countDown();
                uart.awaitRxSpace();
                taken.set(uart.receive(new byte[] {'!'}, 0, 1));
            } catch (Throwable t) {
                failure.set(t);
            } finally {
                done.countDown();
            }
        });
        pump.start();
        assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(done.getCount()).as("cannot finish while the FIFO is full").isEqualTo(1);

        assertThat(in(RBR)).isEqualTo('0');
        assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(failure.get()).isNull();
        assertThat(taken.get()).isEqualTo(1);
        StringBuilder rest = new StringBuilder();
        while ((in(LSR) & LSR_DR) != 0) {
            rest.append((char) in(RBR));
        }
        assertThat(rest.toString()).isEqualTo("123456789abcdef!");
        assertThat(uart.awaitRxSpace(0, TimeUnit.MILLISECONDS)).isTrue();
    }

    @Test
    void awaitRxSpaceWakesWhenLoopbackEnds() throws Exception {
        out(MCR, MCR_LOOP);
        CountDownLatch done = new CountDownLatch(1);
        Thread pump = new Thread(() -> {
            try {
                uart.awaitRxSpace();
                done.countDown();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        pump.start();
        out(MCR, 0);
        assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
    }

    @Test
    void awaitRxSpaceIsInterruptible() throws Exception {
        receive("x"); // 16450 mode: full with one byte
        CountDownLatch interrupted = new CountDownLatch(1);
        Thread pump = new Thread(() -> {
            try {
                uart.awaitRxSpace();
            } catch (InterruptedException e) {
                interrupted.countDown();
            }
        });
        pump.start();
        pump.interrupt();
        assertThat(interrupted.await(10, TimeUnit.SECONDS)).isTrue();
    }

    @Test
    void stateRoundTripsThroughRestore() {
        out(LCR, LCR_DLAB);
        out(0, 0x03);
        out(1, 0x01);
        out(LCR, 0x1b);
        out(FCR, FCR_ENABLE | 0x80);
        out(MCR, MCR_OUT2 | MCR_DTR);
        out(SCR, 0x42);
        receive("abc");
        in(RBR);
        out(IER, IER_ERBFI | IER_ETBEI);
        Serial16550.State s = uart.save();
        assertThat(s.rxFifo()).containsExactly('b', 'c');

        RecordingIrqLine otherIrq = new RecordingIrqLine();
        Serial16550 copy = Serial16550.restore(otherIrq, new Sink(), s);
        assertThat(copy.save()).isEqualTo(s);
        assertThat(otherIrq.level()).as("restored pending interrupt drives the line").isTrue();
        assertThat(copy.read(IIR, 1)).isEqualTo(IIR_FIFO_ENABLED | IIR_RDA);
        assertThat(copy.read(RBR, 1)).isEqualTo('b');
        assertThat(copy.read(SCR, 1)).isEqualTo(0x42);

        copy.reset();
        assertThat(copy.read(LSR, 1)).isEqualTo(LSR_THRE | LSR_TEMT);
        assertThat(otherIrq.level()).isFalse();
    }
}
