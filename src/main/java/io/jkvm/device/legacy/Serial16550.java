package io.jkvm.device.legacy;

import io.jkvm.device.BusDevice;
import io.jkvm.device.IrqLine;
import io.jkvm.device.RateLimitedLog;
import io.jkvm.snapshot.Persist;
import io.jkvm.snapshot.RecordCodec;
import java.io.IOException;
import java.io.OutputStream;
import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A 16550A UART (e.g. COM1 at port 0x3f8, IRQ 4): eight byte-wide registers at offsets 0..7.
 *
 * <p>Register model per the National Semiconductor PC16550D datasheet ("Register Summary",
 * "FIFO Interrupt Mode Operation", "Interrupt Control Table"):
 * <ul>
 *   <li>0: RBR (read) / THR (write); DLL when LCR.DLAB = 1.
 *   <li>1: IER (low 4 bits); DLM when LCR.DLAB = 1.
 *   <li>2: IIR (read) / FCR (write). IIR bits 7:6 read 11 when FIFOs are enabled.
 *   <li>3: LCR, 4: MCR (low 5 bits), 5: LSR, 6: MSR, 7: SCR.
 * </ul>
 *
 * <p>Transmission: with an output stream, a byte written to THR goes straight to it (or to the
 * receiver in loopback mode) on the writing thread, so THRE and TEMT always read 1. With a
 * {@link SerialTransmitter} (what a VM's console uses, see {@link BufferedTransmitter}) the byte is
 * handed over without blocking, THRE and TEMT read 1 only while the transmitter can take a whole
 * FIFO load, and when it has room again the THRE interrupt is raised (datasheet: THRE is set and
 * interrupts when the transmitter FIFO empties). The baud rate divisor is stored but has no effect.
 *
 * <p><b>Interrupts</b> (datasheet Table IV, highest priority first): receiver line status
 * (overrun), received data available (we report RDA whenever the RX FIFO holds data, rather than
 * emulating trigger levels and the character-timeout indication), THR empty, modem status. The
 * THR-empty source follows the datasheet and what Linux's 8250 driver probes for: it becomes
 * pending when THR empties (or when ETBEI is switched on while THR is empty), and is cleared by
 * reading IIR while it is the reported source or by writing THR. Like QEMU, the IRQ line is
 * driven high whenever an enabled interrupt is pending, irrespective of MCR.OUT2. The line is
 * only touched on level changes; writing THR drops and re-raises it, giving the edge an
 * edge-triggered ISA pin needs for every transmitted byte.
 *
 * <p><b>Threads.</b> Register accesses come from vCPU threads and {@link #receive} from an input
 * thread. State is guarded by one lock; an output stream is written only while holding a separate
 * TX lock (to keep bytes in order), never while holding the state lock, so a slow console never
 * blocks the input side; a transmitter's writer thread raises THRE through the state lock.
 * {@link IrqLine#setLevel} is called under the state lock so level changes reach the interrupt
 * controller in the order the state changed.
 *
 * <p>Modem status when not in loopback: DCD, DSR and CTS are asserted (a cable with a ready peer),
 * which keeps Linux's 8250 driver transmitting. In loopback mode (MCR bit 4), MSR reflects MCR
 * (RTS to CTS, DTR to DSR, OUT1 to RI, OUT2 to DCD), TX is looped into RX and host input is
 * disconnected.
 */
public final class Serial16550 implements BusDevice, Persist<Serial16550.State> {
    private static final Logger LOG = LoggerFactory.getLogger(Serial16550.class);

    /** Number of registers (the length to register on the port I/O bus). */
    public static final int REGISTER_COUNT = 8;

    public static final int FIFO_SIZE = 16;

    // Register offsets.
    static final int RBR_THR_DLL = 0;
    static final int IER_DLM = 1;
    static final int IIR_FCR = 2;
    static final int LCR = 3;
    static final int MCR = 4;
    static final int LSR = 5;
    static final int MSR = 6;
    static final int SCR = 7;

    // IER bits.
    public static final int IER_ERBFI = 0x01; // received data available
    public static final int IER_ETBEI = 0x02; // THR empty
    public static final int IER_ELSI = 0x04; // receiver line status
    public static final int IER_EDSSI = 0x08; // modem status
    private static final int IER_MASK = 0x0f;

    // IIR values (bits 3:0) and FIFO indication.
    public static final int IIR_NO_INT = 0x01;
    public static final int IIR_RLS = 0x06;
    public static final int IIR_RDA = 0x04;
    public static final int IIR_THRI = 0x02;
    public static final int IIR_MSI = 0x00;
    public static final int IIR_FIFO_ENABLED = 0xc0;

    // FCR bits.
    public static final int FCR_ENABLE = 0x01;
    public static final int FCR_CLEAR_RX = 0x02;
    public static final int FCR_CLEAR_TX = 0x04;
    private static final int FCR_STORED = 0xc9; // trigger level, DMA mode, enable

    // LCR / MCR bits.
    public static final int LCR_DLAB = 0x80;
    public static final int MCR_DTR = 0x01;
    public static final int MCR_RTS = 0x02;
    public static final int MCR_OUT1 = 0x04;
    public static final int MCR_OUT2 = 0x08;
    public static final int MCR_LOOP = 0x10;
    private static final int MCR_MASK = 0x1f;

    // LSR bits.
    public static final int LSR_DR = 0x01;
    public static final int LSR_OE = 0x02;
    public static final int LSR_PE = 0x04;
    public static final int LSR_FE = 0x08;
    public static final int LSR_BI = 0x10;
    public static final int LSR_THRE = 0x20;
    public static final int LSR_TEMT = 0x40;
    private static final int LSR_ERRORS = LSR_OE | LSR_PE | LSR_FE | LSR_BI;

    // MSR bits: deltas in 3:0, line states in 7:4.
    public static final int MSR_DCTS = 0x01;
    public static final int MSR_DDSR = 0x02;
    public static final int MSR_TERI = 0x04;
    public static final int MSR_DDCD = 0x08;
    public static final int MSR_CTS = 0x10;
    public static final int MSR_DSR = 0x20;
    public static final int MSR_RI = 0x40;
    public static final int MSR_DCD = 0x80;
    private static final int MSR_DELTAS = 0x0f;

    /** Line states presented by the (virtual) peer when not in loopback. */
    private static final int MSR_CONNECTED = MSR_DCD | MSR_DSR | MSR_CTS;

    /**
     * Everything guest-visible, for snapshot/restore. {@code rxFifo} holds the received bytes in
     * arrival order (head first); {@code msrDeltas} are MSR bits 3:0 (line states are derived).
     */
    public record State(int dll, int dlm, int ier, int fcr, int lcr, int mcr, int lsrErrors,
            int msrDeltas, int scr, boolean thriPending, byte[] rxFifo) {
        /** Longest receive FIFO a saved state may carry (the device keeps what fits its buffer). */
        public static final int MAX_FIFO = 4096;

        /** Nine u8 registers, u8 THRE pending, u16 FIFO length (at most {@link #MAX_FIFO}), the FIFO. */
        public static final RecordCodec<State> CODEC = RecordCodec.of("serial16550", State.class, (s, w) -> {
            for (int v : new int[] {s.dll, s.dlm, s.ier, s.fcr, s.lcr, s.mcr, s.lsrErrors, s.msrDeltas, s.scr}) {
                w.u8(v);
            }
            w.bool(s.thriPending).u16(s.rxFifo.length);
            for (byte b : s.rxFifo) {
                w.u8(b);
            }
        }, r -> {
            int[] v = new int[9];
            String[] names = {"DLL", "DLM", "IER", "FCR", "LCR", "MCR", "LSR errors", "MSR deltas", "SCR"};
            for (int i = 0; i < v.length; i++) {
                v[i] = r.u8(names[i]);
            }
            boolean thri = r.bool("THRE pending");
            byte[] fifo = r.bytes(r.u16("FIFO length", 0, MAX_FIFO), "FIFO");
            return new State(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], thri, fifo);
        });

        public State {
            rxFifo = rxFifo == null ? new byte[0] : rxFifo.clone();
            for (int v : new int[] {dll, dlm, ier, fcr, lcr, mcr, lsrErrors, msrDeltas, scr}) {
                if (v < 0 || v > 0xff) {
                    throw new IllegalArgumentException("16550 register value " + v + " is not a byte");
                }
            }
            if (rxFifo.length > MAX_FIFO) {
                throw new IllegalArgumentException("16550 receive FIFO of " + rxFifo.length + " bytes exceeds " + MAX_FIFO);
            }
        }

        @Override
        public byte[] rxFifo() {
            return rxFifo.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof State s && dll == s.dll && dlm == s.dlm && ier == s.ier
                    && fcr == s.fcr && lcr == s.lcr && mcr == s.mcr && lsrErrors == s.lsrErrors
                    && msrDeltas == s.msrDeltas && scr == s.scr && thriPending == s.thriPending
                    && Arrays.equals(rxFifo, s.rxFifo);
        }

        @Override
        public int hashCode() {
            return Objects.hash(dll, dlm, ier, fcr, lcr, mcr, lsrErrors, msrDeltas, scr, thriPending)
                    * 31 + Arrays.hashCode(rxFifo);
        }

        @Override
        public String toString() {
            return "Serial16550.State[dll=" + dll + ", dlm=" + dlm + ", ier=" + ier + ", fcr=" + fcr
                    + ", lcr=" + lcr + ", mcr=" + mcr + ", lsrErrors=" + lsrErrors + ", msrDeltas="
                    + msrDeltas + ", scr=" + scr + ", thriPending=" + thriPending + ", rxFifo="
                    + Arrays.toString(rxFifo) + "]";
        }
    }

    private final IrqLine irq;
    private final OutputStream sink;
    /** Null: bytes go to {@link #sink} on the writing thread. */
    private final SerialTransmitter transmitter;
    private final RateLimitedLog log = new RateLimitedLog(LOG);

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition rxSpace = lock.newCondition();
    /** Serialises sink writes so bytes leave in THR-write order; never held with {@link #lock} waited on by input. */
    private final Object txLock = new Object();

    // --- guarded by lock ---
    private final byte[] rx = new byte[FIFO_SIZE];
    private int rxHead;
    private int rxCount;
    private int dll = 0x0c; // 9600 baud; the datasheet leaves it undefined after reset
    private int dlm;
    private int ier;
    private int fcr;
    private int lcr;
    private int mcr;
    private int lsrErrors;
    private int msrDeltas;
    private int scr;
    private boolean thriPending;
    private boolean irqLevel;

    // --- guarded by txLock ---
    private boolean sinkBroken;

    /**
     * @param irq the interrupt line (COM1: ISA IRQ 4); driven high while an interrupt is pending
     * @param sink receives every transmitted byte; flushed after each byte so the console is
     *     interactive (pass an unbuffered stream if flushing is expensive)
     */
    public Serial16550(IrqLine irq, OutputStream sink) {
        this.irq = Objects.requireNonNull(irq, "irq");
        this.sink = Objects.requireNonNull(sink, "sink");
        this.transmitter = null;
    }

    /**
     * A UART whose THR writes never block: bytes go to {@code transmitter}, which tells the UART
     * (through {@link SerialTransmitter#onReady}) when it can take more.
     */
    public Serial16550(IrqLine irq, SerialTransmitter transmitter) {
        this.irq = Objects.requireNonNull(irq, "irq");
        this.sink = OutputStream.nullOutputStream();
        this.transmitter = Objects.requireNonNull(transmitter, "transmitter");
        transmitter.onReady(this::transmitterReady);
    }

    /** The transmitter emptied enough for a FIFO load: THR is empty again, raise THRE. */
    private void transmitterReady() {
        lock.lock();
        try {
            thriPending = true;
            updateIrq();
        } finally {
            lock.unlock();
        }
    }

    // ------------------------------------------------------------------ guest side

    @Override
    public long read(long offset, int size) {
        if (offset < 0 || offset >= REGISTER_COUNT) {
            log.debug("serial: read outside registers offset={} size={}", offset, size);
            return 0xff;
        }
        lock.lock();
        try {
            return readRegister((int) offset);
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void write(long offset, int size, long value) {
        if (offset < 0 || offset >= REGISTER_COUNT) {
            log.debug("serial: write outside registers offset={} size={}", offset, size);
            return;
        }
        int v = (int) (value & 0xff);
        if (offset == RBR_THR_DLL && transmitter != null) {
            lock.lock();
            try {
                writeThrToTransmitter(v);
            } finally {
                lock.unlock();
            }
            return;
        }
        if (offset == RBR_THR_DLL) {
            // THR writes may produce output; take the TX lock first (lock order: txLock, lock).
            synchronized (txLock) {
                int out;
                lock.lock();
                try {
                    out = writeRegister0(v);
                } finally {
                    lock.unlock();
                }
                if (out >= 0) {
                    emit(out);
                }
            }
            return;
        }
        lock.lock();
        try {
            writeRegister((int) offset, v);
        } finally {
            lock.unlock();
        }
    }

    private int readRegister(int offset) {
        switch (offset) {
            case RBR_THR_DLL -> {
                if (dlab()) {
                    return dll;
                }
                int b = popRx();
                updateIrq();
                return b;
            }
            case IER_DLM -> {
                return dlab() ? dlm : ier;
            }
            case IIR_FCR -> {
                int iir = computeIir();
                if (iir == IIR_THRI) {
                    // Datasheet Table IV: reading IIR when THRE is the source resets it.
                    thriPending = false;
                    updateIrq();
                }
                return iir | (fifoEnabled() ? IIR_FIFO_ENABLED : 0);
            }
            case LCR -> {
                return lcr;
            }
            case MCR -> {
                return mcr;
            }
            case LSR -> {
                int lsr = lsrValue();
                lsrErrors = 0; // reading LSR clears OE/PE/FE/BI and the RLS interrupt
                updateIrq();
                return lsr;
            }
            case MSR -> {
                int msr = lineStates() | msrDeltas;
                msrDeltas = 0; // reading MSR clears the deltas and the modem status interrupt
                updateIrq();
                return msr;
            }
            default -> {
                return scr;
            }
        }
    }

    /** Handles a write to offset 0; returns the byte to send to the sink, or -1. */
    private int writeRegister0(int v) {
        if (dlab()) {
            dll = v;
            return -1;
        }
        // Writing THR clears the THRE interrupt ...
        thriPending = false;
        updateIrq();
        int out = -1;
        if (loopback()) {
            pushRxFromLoopback(v);
        } else {
            out = v;
        }
        // ... and since transmission is instantaneous THR is empty again at once.
        thriPending = true;
        updateIrq();
        return out;
    }

    /** THR write with a transmitter: hand the byte over (never blocks), THRE follows its room. */
    private void writeThrToTransmitter(int v) {
        if (dlab()) {
            dll = v;
            return;
        }
        thriPending = false;
        updateIrq();
        if (loopback()) {
            pushRxFromLoopback(v);
        } else if (!transmitter.send(v)) {
            log.debug("serial: transmitter full, byte dropped (the guest wrote THR while THRE was 0)");
        }
        // Lock order UART -> transmitter; the transmitter calls back without its lock held.
        thriPending = thrEmpty();
        updateIrq();
    }

    /** THR (and the transmitter behind it) can take a FIFO load: LSR.THRE. */
    private boolean thrEmpty() {
        return transmitter == null || loopback() || transmitter.ready();
    }

    private void writeRegister(int offset, int v) {
        switch (offset) {
            case IER_DLM -> {
                if (dlab()) {
                    dlm = v;
                    return;
                }
                int old = ier;
                ier = v & IER_MASK;
                if ((ier & IER_ETBEI) != 0 && (old & IER_ETBEI) == 0 && thrEmpty()) {
                    // Enabling ETBEI with THR empty raises the THRE interrupt.
                    thriPending = true;
                }
                updateIrq();
            }
            case IIR_FCR -> writeFcr(v);
            case LCR -> lcr = v;
            case MCR -> writeMcr(v & MCR_MASK);
            case LSR, MSR -> log.debug("serial: ignored write to read-only register {} value={}", offset, v);
            case SCR -> scr = v;
            default -> { /* offset 0 is handled by writeRegister0 */ }
        }
    }

    private void writeFcr(int v) {
        boolean wasEnabled = fifoEnabled();
        boolean enable = (v & FCR_ENABLE) != 0;
        // Datasheet: changing FCR0 clears both FIFOs; bits 1 and 2 clear them explicitly.
        if (enable != wasEnabled || (v & FCR_CLEAR_RX) != 0) {
            clearRx();
        }
        fcr = enable ? (v & FCR_STORED) : 0;
        // TX FIFO is always empty (instant transmit), so FCR_CLEAR_TX needs no action.
        updateIrq();
        rxSpace.signalAll();
    }

    private void writeMcr(int v) {
        int oldLines = lineStates();
        boolean wasLoop = loopback();
        mcr = v;
        int newLines = lineStates();
        int changed = oldLines ^ newLines;
        if ((changed & MSR_CTS) != 0) {
            msrDeltas |= MSR_DCTS;
        }
        if ((changed & MSR_DSR) != 0) {
            msrDeltas |= MSR_DDSR;
        }
        if ((changed & MSR_DCD) != 0) {
            msrDeltas |= MSR_DDCD;
        }
        if ((oldLines & MSR_RI) != 0 && (newLines & MSR_RI) == 0) {
            msrDeltas |= MSR_TERI; // trailing edge of RI only
        }
        updateIrq();
        if (wasLoop && !loopback()) {
            rxSpace.signalAll(); // host input is connected again
        }
    }

    // ------------------------------------------------------------------ host side

    /**
     * Enqueues up to {@code len} bytes of host input into the receive FIFO, as many as fit.
     * Returns the number of bytes taken (0 when the FIFO is full or the UART is in loopback
     * mode, where the receiver is disconnected from the line).
     */
    public int receive(byte[] buf, int off, int len) {
        Objects.checkFromIndexSize(off, len, buf.length);
        lock.lock();
        try {
            if (loopback()) {
                return 0;
            }
            int n = Math.min(len, rxCapacity() - rxCount);
            for (int i = 0; i < n; i++) {
                rx[(rxHead + rxCount) % FIFO_SIZE] = buf[off + i];
                rxCount++;
            }
            if (n > 0) {
                updateIrq();
            }
            return n;
        } finally {
            lock.unlock();
        }
    }

    /** Blocks until {@link #receive} can take at least one byte. */
    public void awaitRxSpace() throws InterruptedException {
        lock.lock();
        try {
            while (!hasRxSpace()) {
                rxSpace.await();
            }
        } finally {
            lock.unlock();
        }
    }

    /** As {@link #awaitRxSpace()} with a timeout; returns whether space is available. */
    public boolean awaitRxSpace(long timeout, TimeUnit unit) throws InterruptedException {
        long nanos = unit.toNanos(timeout);
        lock.lock();
        try {
            while (!hasRxSpace()) {
                if (nanos <= 0) {
                    return false;
                }
                nanos = rxSpace.awaitNanos(nanos);
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    // ------------------------------------------------------------------ snapshot

    @Override
    public State save() {
        lock.lock();
        try {
            byte[] fifo = new byte[rxCount];
            for (int i = 0; i < rxCount; i++) {
                fifo[i] = rx[(rxHead + i) % FIFO_SIZE];
            }
            return new State(dll, dlm, ier, fcr, lcr, mcr, lsrErrors, msrDeltas, scr, thriPending, fifo);
        } finally {
            lock.unlock();
        }
    }

    /**
     * A UART restored from a {@link #save()}, as {@link #Serial16550(IrqLine, SerialTransmitter)}
     * would build it; out-of-range fields are masked, FIFO bytes beyond its buffer dropped.
     */
    public static Serial16550 restore(IrqLine irq, SerialTransmitter transmitter, State s) {
        Serial16550 uart = new Serial16550(irq, transmitter);
        uart.load(s);
        return uart;
    }

    /** As {@link #restore(IrqLine, SerialTransmitter, State)}, writing to {@code sink} on the writing thread. */
    public static Serial16550 restore(IrqLine irq, OutputStream sink, State s) {
        Serial16550 uart = new Serial16550(irq, sink);
        uart.load(s);
        return uart;
    }

    private void load(State s) {
        lock.lock();
        try {
            dll = s.dll() & 0xff;
            dlm = s.dlm() & 0xff;
            ier = s.ier() & IER_MASK;
            fcr = (s.fcr() & FCR_ENABLE) != 0 ? s.fcr() & FCR_STORED : 0;
            lcr = s.lcr() & 0xff;
            mcr = s.mcr() & MCR_MASK;
            lsrErrors = s.lsrErrors() & LSR_ERRORS;
            msrDeltas = s.msrDeltas() & MSR_DELTAS;
            scr = s.scr() & 0xff;
            thriPending = s.thriPending();
            byte[] fifo = s.rxFifo();
            rxHead = 0;
            rxCount = Math.min(fifo.length, rxCapacity());
            System.arraycopy(fifo, 0, rx, 0, rxCount);
            updateIrq();
            rxSpace.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Power-on reset (MR pin): registers to their datasheet reset values, FIFO emptied. */
    public void reset() {
        load(new State(0x0c, 0, 0, 0, 0, 0, 0, 0, 0, false, new byte[0]));
    }

    // ------------------------------------------------------------------ internals (lock held)

    private boolean dlab() {
        return (lcr & LCR_DLAB) != 0;
    }

    private boolean loopback() {
        return (mcr & MCR_LOOP) != 0;
    }

    private boolean fifoEnabled() {
        return (fcr & FCR_ENABLE) != 0;
    }

    private int rxCapacity() {
        return fifoEnabled() ? FIFO_SIZE : 1;
    }

    private boolean hasRxSpace() {
        return !loopback() && rxCount < rxCapacity();
    }

    private int lineStates() {
        if (!loopback()) {
            return MSR_CONNECTED;
        }
        int s = 0;
        if ((mcr & MCR_RTS) != 0) {
            s |= MSR_CTS;
        }
        if ((mcr & MCR_DTR) != 0) {
            s |= MSR_DSR;
        }
        if ((mcr & MCR_OUT1) != 0) {
            s |= MSR_RI;
        }
        if ((mcr & MCR_OUT2) != 0) {
            s |= MSR_DCD;
        }
        return s;
    }

    private int lsrValue() {
        return (rxCount > 0 ? LSR_DR : 0) | lsrErrors | (thrEmpty() ? LSR_THRE | LSR_TEMT : 0);
    }

    private int computeIir() {
        if ((ier & IER_ELSI) != 0 && lsrErrors != 0) {
            return IIR_RLS;
        }
        if ((ier & IER_ERBFI) != 0 && rxCount > 0) {
            return IIR_RDA;
        }
        if ((ier & IER_ETBEI) != 0 && thriPending) {
            return IIR_THRI;
        }
        if ((ier & IER_EDSSI) != 0 && msrDeltas != 0) {
            return IIR_MSI;
        }
        return IIR_NO_INT;
    }

    private void updateIrq() {
        boolean level = computeIir() != IIR_NO_INT;
        if (level != irqLevel) {
            irqLevel = level;
            irq.setLevel(level);
        }
    }

    private int popRx() {
        if (rxCount == 0) {
            return 0;
        }
        int b = rx[rxHead] & 0xff;
        rxHead = (rxHead + 1) % FIFO_SIZE;
        rxCount--;
        rxSpace.signalAll();
        return b;
    }

    private void clearRx() {
        rxHead = 0;
        rxCount = 0;
    }

    private void pushRxFromLoopback(int v) {
        if (rxCount < rxCapacity()) {
            rx[(rxHead + rxCount) % FIFO_SIZE] = (byte) v;
            rxCount++;
            return;
        }
        lsrErrors |= LSR_OE;
        if (!fifoEnabled()) {
            // 16450 mode: the new character overwrites RBR. In FIFO mode the FIFO is kept and the
            // character in the shift register is lost (datasheet, LSR bit 1).
            rx[rxHead] = (byte) v;
        }
    }

    private void emit(int b) {
        // Called with txLock held and the state lock released.
        if (sinkBroken) {
            return;
        }
        try {
            sink.write(b);
            sink.flush();
        } catch (IOException e) {
            sinkBroken = true;
            LOG.warn("serial: console output failed, discarding further output", e);
        }
    }
}
