package io.jkvm.device.legacy;

import io.jkvm.device.RecordingIrqLine;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static io.jkvm.device.legacy.Serial16550.*;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The UART with a transmitter: THR writes never wait for the console. A console that stops
 * reading makes THRE read 0 (the guest's driver waits for the THRE interrupt, as on a slow line)
 * instead of blocking the vCPU thread in write(2); the interrupt comes when the console drains.
 */
class SerialTransmitterTest {
    private static final int THR = 0, IER = 1, IIR = 2;
    private static final Duration WAIT = Duration.ofSeconds(30);

    /** A transmitter the test fills and empties by hand. */
    static final class ManualTransmitter implements SerialTransmitter {
        final ByteArrayOutputStream sent = new ByteArrayOutputStream();
        boolean room = true;
        Runnable onReady;

        public boolean ready() {
            return room;
        }

        public boolean send(int b) {
            sent.write(b);
            return true;
        }

        public void onReady(Runnable r) {
            onReady = r;
        }
    }

    /** A console whose writes block until released: a terminal or pipe nobody reads. */
    static final class StuckConsole extends OutputStream {
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final ByteArrayOutputStream written = new ByteArrayOutputStream();

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public synchronized void write(byte[] b, int off, int len) throws IOException {
            entered.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                throw new IOException(e);
            }
            written.write(b, off, len);
        }
    }

    @Test
    void thrIsBusyWhileTheTransmitterHasNoRoomAndThreInterruptsWhenItHasAgain() {
        RecordingIrqLine irq = new RecordingIrqLine();
        ManualTransmitter tx = new ManualTransmitter();
        Serial16550 uart = new Serial16550(irq, tx);
        uart.write(IER, 1, IER_ETBEI);
        assertThat(uart.read(IIR, 1) & 0x0f).isEqualTo(IIR_THRI);
        assertThat(irq.level()).isFalse();

        tx.room = false;
        uart.write(THR, 1, 'a');
        assertThat(tx.sent.toString()).isEqualTo("a");
        assertThat(uart.read(LSR, 1) & (LSR_THRE | LSR_TEMT)).as("busy transmitter: THRE and TEMT clear").isZero();
        assertThat(uart.read(IIR, 1) & 0x0f).isEqualTo(IIR_NO_INT);
        assertThat(irq.level()).isFalse();
        // Switching ETBEI off and on while the transmitter is busy raises nothing either.
        uart.write(IER, 1, 0);
        uart.write(IER, 1, IER_ETBEI);
        assertThat(irq.level()).isFalse();

        tx.room = true;
        tx.onReady.run();
        assertThat(irq.level()).as("THRE interrupt once the transmitter drained").isTrue();
        assertThat(uart.read(LSR, 1) & (LSR_THRE | LSR_TEMT)).isEqualTo(LSR_THRE | LSR_TEMT);
        assertThat(uart.read(IIR, 1) & 0x0f).isEqualTo(IIR_THRI);
        assertThat(irq.level()).isFalse();
    }

    @Test
    void aStuckConsoleNeverBlocksThrWritesAndTheBytesFollowInOrderOnceItDrains() throws Exception {
        StuckConsole console = new StuckConsole();
        RecordingIrqLine irq = new RecordingIrqLine();
        try (BufferedTransmitter tx = new BufferedTransmitter(console, 256, "test-serial-tx")) {
            Serial16550 uart = new Serial16550(irq, tx);
            uart.write(IER, 1, IER_ETBEI);
            uart.read(IIR, 1); // take the THRE interrupt of enabling ETBEI

            // The guest's driver: write while THRE says there is room. The first byte blocks the
            // writer thread in the console; everything else must return at once.
            int written = 0;
            uart.write(THR, 1, 0);
            written++;
            assertThat(console.entered.await(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
            while ((uart.read(LSR, 1) & LSR_THRE) != 0) {
                uart.write(THR, 1, written & 0xff);
                written++;
                assertThat(written).as("THRE must clear once the buffer is nearly full").isLessThan(1000);
            }
            // 256 bytes of buffer, a FIFO load (16) always free while THRE is 1, plus the byte in the console.
            assertThat(written).isBetween(256 - 16, 256 + 1);
            assertThat(tx.drain(Duration.ofMillis(50))).as("nothing reaches a stuck console").isFalse();
            irq.clear();

            console.release.countDown();
            assertThat(tx.drain(WAIT)).isTrue();
            byte[] out = console.written.toByteArray();
            assertThat(out).hasSize(written);
            for (int i = 0; i < written; i++) {
                assertThat(out[i] & 0xff).isEqualTo(i & 0xff);
            }
            assertThat(irq.levels()).as("THRE interrupt after the drain").contains(true);
            assertThat(uart.read(IIR, 1) & 0x0f).isEqualTo(IIR_THRI);
            assertThat(tx.dropped()).isZero();
        }
    }

    @Test
    void aGuestThatIgnoresThreLosesBytesInsteadOfBlocking() throws Exception {
        StuckConsole console = new StuckConsole();
        try (BufferedTransmitter tx = new BufferedTransmitter(console, 64, "test-serial-tx")) {
            Serial16550 uart = new Serial16550(new RecordingIrqLine(), tx);
            uart.write(THR, 1, 'x');
            assertThat(console.entered.await(WAIT.toSeconds(), TimeUnit.SECONDS)).isTrue();
            for (int i = 0; i < 1000; i++) {
                uart.write(THR, 1, 'y'); // never blocks, whatever the guest does
            }
            assertThat(tx.dropped()).isEqualTo(1000 - 64);
            console.release.countDown();
            assertThat(tx.drain(WAIT)).isTrue();
            assertThat(console.written.size()).isEqualTo(1 + 64);
        }
    }

    @Test
    void aFailingConsoleIsDiscardedAndTheTransmitterStaysReady() throws Exception {
        OutputStream failing = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                throw new IOException("console gone");
            }
        };
        try (BufferedTransmitter tx = new BufferedTransmitter(failing, 64, "test-serial-tx")) {
            Serial16550 uart = new Serial16550(new RecordingIrqLine(), tx);
            for (int i = 0; i < 500; i++) {
                while ((uart.read(LSR, 1) & LSR_THRE) == 0) {
                    assertThat(tx.drain(WAIT)).isTrue();
                }
                uart.write(THR, 1, 'z');
            }
            assertThat(tx.drain(WAIT)).isTrue();
            assertThat(uart.read(LSR, 1) & LSR_THRE).isEqualTo(LSR_THRE);
            assertThat(tx.dropped()).isZero();
        }
    }

    @Test
    void closeEndsTheWriterOnceEmpty() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        BufferedTransmitter tx = new BufferedTransmitter(out, 64, "test-serial-tx");
        for (char c : "bye".toCharArray()) {
            tx.send(c);
        }
        tx.close();
        assertThat(tx.drain(WAIT)).isTrue();
        assertThat(out.toString()).isEqualTo("bye");
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (tx.writerAlive()) {
            assertThat(System.nanoTime()).as("writer thread ends").isLessThan(deadline);
            Thread.onSpinWait();
        }
    }
}
