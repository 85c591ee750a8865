package io.jkvm.device.legacy;

import io.jkvm.device.BusDevice;
import io.jkvm.device.IrqLine;
import io.jkvm.device.RateLimitedLog;
import io.jkvm.snapshot.Persist;
import io.jkvm.snapshot.RecordCodec;
import java.util.ArrayDeque;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A minimal 8042 PS/2 keyboard controller with a keyboard that never has keys pressed and an
 * auxiliary (mouse) port with nothing attached.
 *
 * <p>Register at base 0x60 with length 5: offset 0 is the data port (0x60), offset 4 the
 * status (read) / command (write) port (0x64). Offsets 1..3 (0x61 is the PIT/speaker port,
 * emulated by KVM's in-kernel PIT) read as all ones and ignore writes.
 *
 * <p>The point is to let Linux's i8042 and atkbd drivers probe quickly and without timeouts, and
 * to implement the reset line: controller command 0xFE (pulse output port bit 0, used by
 * {@code reboot=k}) or writing the output port with bit 0 clear invokes the reset callback.
 * Controller commands answered (IBM PC/AT Technical Reference, "Keyboard Controller"):
 * 0x20 read command byte, 0x60 write command byte, 0xA7/0xA8 disable/enable aux,
 * 0xA9 aux interface test, 0xAA self test (0x55), 0xAB keyboard interface test (0x00),
 * 0xAD/0xAE disable/enable keyboard, 0xC0 read input port, 0xD0/0xD1 read/write output port,
 * 0xD2/0xD3 write keyboard/aux output buffer (loop back), 0xD4 write to aux device,
 * 0xE0 read test inputs, 0xF0-0xFF pulse output lines.
 *
 * <p>Bytes written to the data port without a pending controller command go to the keyboard,
 * which acknowledges (0xFA) like a real AT keyboard: 0xF2 identify answers 0xAB 0x83, 0xFF reset
 * answers 0xAA (BAT passed), 0xEE echo answers 0xEE, and 0xED/0xF0/0xF3 take a parameter byte.
 * Bytes sent to the aux device are answered with 0xFE (resend), what a controller reports
 * when no mouse answers, so psmouse gives up at once.
 *
 * <p>Interrupts: the keyboard line (ISA IRQ 1) is high while the output buffer holds keyboard or
 * controller data and command byte bit 0 is set; the aux line (IRQ 12) likewise for aux data
 * and bit 1. Linux's i8042 probe checks that IRQ 12 is delivered after an aux loopback, so wire
 * both lines (or boot with {@code i8042.noaux}).
 */
public final class I8042 implements BusDevice, Persist<I8042.State> {
    private static final Logger LOG = LoggerFactory.getLogger(I8042.class);

    /** Length to register at {@code Layout.I8042_PORT}. */
    public static final int LENGTH = 5;

    public static final int DATA_OFFSET = 0;
    public static final int COMMAND_OFFSET = 4;

    // Status register bits.
    public static final int STATUS_OBF = 0x01;
    public static final int STATUS_IBF = 0x02;
    public static final int STATUS_SYS = 0x04;
    public static final int STATUS_CMD = 0x08;
    public static final int STATUS_UNLOCKED = 0x10;
    public static final int STATUS_AUX_OBF = 0x20;

    // Command byte (controller configuration) bits.
    public static final int CTR_KBD_INT = 0x01;
    public static final int CTR_AUX_INT = 0x02;
    public static final int CTR_SYS = 0x04;
    public static final int CTR_KBD_DISABLE = 0x10;
    public static final int CTR_AUX_DISABLE = 0x20;
    public static final int CTR_XLATE = 0x40;

    /** Output port bit 0: the CPU reset line (active low). Bit 1: A20 gate. */
    public static final int OUTPORT_RESET = 0x01;
    public static final int OUTPORT_A20 = 0x02;

    /** Bounded so a guest cannot make us queue without limit. */
    static final int QUEUE_LIMIT = 16;

    private static final int KBD_ACK = 0xfa;
    private static final int RESEND = 0xfe;

    private record Output(int value, boolean aux) {}

    private final IrqLine kbdIrq;
    private final IrqLine auxIrq;
    private final Runnable resetCallback;
    private final RateLimitedLog log = new RateLimitedLog(LOG);

    // Guarded by this.
    private final ArrayDeque<Output> queue = new ArrayDeque<>();
    private int ctr = CTR_XLATE | CTR_AUX_DISABLE | CTR_SYS | CTR_KBD_INT;
    private int outport = OUTPORT_RESET | OUTPORT_A20;
    private int pendingCommand = -1; // controller command waiting for its data byte
    private int pendingKbdCommand = -1; // keyboard command waiting for its parameter
    private boolean lastWriteWasCommand = true;
    private int lastRead;
    private boolean kbdLevel;
    private boolean auxLevel;

    /**
     * @param kbdIrq ISA IRQ 1
     * @param auxIrq ISA IRQ 12
     * @param resetCallback invoked (outside the device lock) when the guest pulses the reset line
     */
    public I8042(IrqLine kbdIrq, IrqLine auxIrq, Runnable resetCallback) {
        this.kbdIrq = Objects.requireNonNull(kbdIrq, "kbdIrq");
        this.auxIrq = Objects.requireNonNull(auxIrq, "auxIrq");
        this.resetCallback = Objects.requireNonNull(resetCallback, "resetCallback");
    }

    @Override
    public long read(long offset, int size) {
        if (offset == DATA_OFFSET) {
            return readData();
        }
        if (offset == COMMAND_OFFSET) {
            return status();
        }
        return 0xff;
    }

    @Override
    public void write(long offset, int size, long value) {
        int v = (int) (value & 0xff);
        boolean reset;
        if (offset == DATA_OFFSET) {
            reset = writeData(v);
        } else if (offset == COMMAND_OFFSET) {
            reset = writeCommand(v);
        } else {
            return;
        }
        if (reset) {
            LOG.info("i8042: guest pulsed the reset line");
            try {
                resetCallback.run();
            } catch (RuntimeException e) {
                LOG.error("i8042: reset callback failed", e);
            }
        }
    }

    /** Ctrl, Alt, Del pressed then released, scan code set 1 (what Linux sees with translation on). */
    private static final int[] CTRL_ALT_DEL_SET1 = {0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d};
    /** The same keys in scan code set 2 (translation off). */
    private static final int[] CTRL_ALT_DEL_SET2 = {0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14};

    /**
     * Types Ctrl+Alt+Del on the keyboard (Firecracker's SendCtrlAltDel): the make and break codes
     * are queued as keyboard data, in set 1 when the controller translates (command byte bit 6,
     * the PC default) and set 2 otherwise, raising IRQ 1 byte by byte as the guest reads them.
     * Returns false, queuing nothing, if the output buffer has no room for the whole sequence.
     */
    public synchronized boolean injectCtrlAltDel() {
        int[] codes = (ctr & CTR_XLATE) != 0 ? CTRL_ALT_DEL_SET1 : CTRL_ALT_DEL_SET2;
        if (queue.size() + codes.length > QUEUE_LIMIT) {
            return false;
        }
        for (int c : codes) {
            enqueue(c, false);
        }
        updateIrqs();
        return true;
    }

    /** The status register (port 0x64). */
    public synchronized int status() {
        int s = STATUS_UNLOCKED;
        Output head = queue.peekFirst();
        if (head != null) {
            s |= STATUS_OBF;
            if (head.aux()) {
                s |= STATUS_AUX_OBF;
            }
        }
        if ((ctr & CTR_SYS) != 0) {
            s |= STATUS_SYS;
        }
        if (lastWriteWasCommand) {
            s |= STATUS_CMD;
        }
        return s;
    }

    /** The controller command byte (configuration). */
    public synchronized int commandByte() {
        return ctr;
    }

    /**
     * Everything guest-visible (snapshots): command byte, output port, half-done commands, the
     * data latch and the output queue ({@code queue[i]} is a byte, bit 8 set for the aux port).
     */
    public record State(int ctr, int outport, int pendingCommand, int pendingKbdCommand, boolean lastWriteWasCommand,
            int lastRead, int[] queue) {
        /**
         * u8 command byte, u8 output port, i16 pending controller and keyboard commands (-1 =
         * none), u8 last-write-was-command, u8 data latch, u8 queue length (at most 16) and per
         * entry u16 (byte, bit 8 = aux port).
         */
        public static final RecordCodec<State> CODEC = RecordCodec.of("i8042", State.class, (s, w) -> {
            w.u8(s.ctr).u8(s.outport).u16(s.pendingCommand & 0xffff).u16(s.pendingKbdCommand & 0xffff)
                    .bool(s.lastWriteWasCommand).u8(s.lastRead).u8(s.queue.length);
            for (int v : s.queue) {
                w.u16(v);
            }
        }, r -> {
            int ctr = r.u8("command byte");
            int outport = r.u8("output port");
            int pending = (short) r.u16("pending command");
            int pendingKbd = (short) r.u16("pending keyboard command");
            boolean lastCmd = r.bool("last write was command");
            int lastRead = r.u8("data latch");
            int[] q = new int[r.u8("queue length", 0, QUEUE_LIMIT)];
            for (int i = 0; i < q.length; i++) {
                q[i] = r.u16("queue entry", 0, 0x1ff);
            }
            return new State(ctr, outport, pending, pendingKbd, lastCmd, lastRead, q);
        });

        public State {
            for (int v : new int[] {ctr, outport, lastRead}) {
                if (v < 0 || v > 0xff) {
                    throw new IllegalArgumentException("i8042 register value " + v + " is not a byte");
                }
            }
            if (pendingCommand < -1 || pendingCommand > 0xff || pendingKbdCommand < -1 || pendingKbdCommand > 0xff) {
                throw new IllegalArgumentException("i8042 pending command must be -1 or a byte");
            }
            if (queue.length > QUEUE_LIMIT) {
                throw new IllegalArgumentException("i8042 output queue of " + queue.length + " bytes exceeds " + QUEUE_LIMIT);
            }
            for (int q : queue) {
                if (q < 0 || q > 0x1ff) {
                    throw new IllegalArgumentException("i8042 queue entry " + q + " is not a byte plus aux flag");
                }
            }
            queue = queue.clone();
        }

        @Override
        public int[] queue() {
            return queue.clone();
        }
    }

    @Override
    public synchronized State save() {
        return new State(ctr, outport, pendingCommand, pendingKbdCommand, lastWriteWasCommand, lastRead,
                queue.stream().mapToInt(o -> o.value() | (o.aux() ? 0x100 : 0)).toArray());
    }

    /**
     * A controller restored from a {@link #save()}, wired as {@link #I8042(IrqLine, IrqLine,
     * Runnable)}; the IRQ lines follow the restored queue.
     */
    public static I8042 restore(IrqLine kbdIrq, IrqLine auxIrq, Runnable resetCallback, State s) {
        I8042 k = new I8042(kbdIrq, auxIrq, resetCallback);
        k.load(s);
        return k;
    }

    private synchronized void load(State s) {
        ctr = s.ctr();
        outport = s.outport();
        pendingCommand = s.pendingCommand();
        pendingKbdCommand = s.pendingKbdCommand();
        lastWriteWasCommand = s.lastWriteWasCommand();
        lastRead = s.lastRead();
        queue.clear();
        for (int q : s.queue()) {
            queue.addLast(new Output(q & 0xff, (q & 0x100) != 0));
        }
        updateIrqs();
    }

    private synchronized int readData() {
        Output o = queue.pollFirst();
        if (o != null) {
            lastRead = o.value();
            // Drop the line on every read so a following byte produces a fresh edge (ISA IRQs
            // 1 and 12 are edge triggered and Linux reads one byte per interrupt).
            if (kbdLevel) {
                kbdLevel = false;
                kbdIrq.setLevel(false);
            }
            if (auxLevel) {
                auxLevel = false;
                auxIrq.setLevel(false);
            }
        }
        updateIrqs();
        // With nothing new the 8042 data latch keeps its last value.
        return lastRead;
    }

    /** Returns true if the reset line was pulsed. */
    private synchronized boolean writeData(int v) {
        lastWriteWasCommand = false;
        int cmd = pendingCommand;
        pendingCommand = -1;
        switch (cmd) {
            case 0x60 -> ctr = v;
            case 0xd1 -> {
                outport = v;
                if ((v & OUTPORT_RESET) == 0) {
                    outport |= OUTPORT_RESET; // the line springs back after the reset
                    updateIrqs();
                    return true;
                }
            }
            case 0xd2 -> enqueue(v, false);
            case 0xd3 -> enqueue(v, true);
            case 0xd4 -> enqueue(RESEND, true); // no mouse attached
            default -> keyboardByte(v);
        }
        updateIrqs();
        return false;
    }

    /** Returns true if the reset line was pulsed. */
    private synchronized boolean writeCommand(int v) {
        lastWriteWasCommand = true;
        pendingCommand = -1;
        switch (v) {
            case 0x20 -> enqueue(ctr, false);
            case 0x60, 0xd1, 0xd2, 0xd3, 0xd4 -> pendingCommand = v;
            case 0xa7 -> ctr |= CTR_AUX_DISABLE;
            case 0xa8 -> ctr &= ~CTR_AUX_DISABLE;
            case 0xa9 -> enqueue(0x00, false); // aux interface OK (no device is a device matter)
            case 0xaa -> {
                ctr |= CTR_SYS; // a passed self test sets the system flag
                enqueue(0x55, false);
            }
            case 0xab -> enqueue(0x00, false);
            case 0xad -> ctr |= CTR_KBD_DISABLE;
            case 0xae -> ctr &= ~CTR_KBD_DISABLE;
            case 0xc0 -> enqueue(0x80, false); // input port: keyboard not inhibited
            case 0xd0 -> enqueue(outportValue(), false);
            case 0xe0 -> enqueue(0x00, false);
            default -> {
                if ((v & 0xf0) == 0xf0) {
                    // 0xF0-0xFF pulse output port bits 3:0 where the command bit is 0; bit 0 is reset.
                    updateIrqs();
                    return (v & 0x01) == 0;
                }
                log.debug("i8042: ignored controller command {}", Integer.toHexString(v));
            }
        }
        updateIrqs();
        return false;
    }

    private int outportValue() {
        int v = outport & ~(0x30);
        Output head = queue.peekFirst();
        if (head != null) {
            v |= head.aux() ? 0x20 : 0x10; // output port bits 4/5 mirror the buffer-full lines
        }
        return v;
    }

    /** A byte for the keyboard itself (AT keyboard command set). */
    private void keyboardByte(int v) {
        int pending = pendingKbdCommand;
        pendingKbdCommand = -1;
        if (pending == 0xf0) {
            enqueue(KBD_ACK, false);
            if (v == 0) {
                enqueue(0x02, false); // current scan code set
            }
            return;
        }
        if (pending >= 0) {
            enqueue(KBD_ACK, false); // parameter of 0xED (LEDs) or 0xF3 (typematic)
            return;
        }
        switch (v) {
            case 0xed, 0xf0, 0xf3 -> {
                pendingKbdCommand = v;
                enqueue(KBD_ACK, false);
            }
            case 0xee -> enqueue(0xee, false);
            case 0xf2 -> {
                enqueue(KBD_ACK, false);
                enqueue(0xab, false);
                enqueue(0x83, false);
            }
            case 0xff -> {
                enqueue(KBD_ACK, false);
                enqueue(0xaa, false);
            }
            default -> enqueue(KBD_ACK, false);
        }
    }

    private void enqueue(int value, boolean aux) {
        if (queue.size() >= QUEUE_LIMIT) {
            log.debug("i8042: output queue full, dropping {}", value);
            return;
        }
        queue.addLast(new Output(value & 0xff, aux));
    }

    private void updateIrqs() {
        Output head = queue.peekFirst();
        boolean kbd = head != null && !head.aux() && (ctr & CTR_KBD_INT) != 0;
        boolean aux = head != null && head.aux() && (ctr & CTR_AUX_INT) != 0;
        if (kbd != kbdLevel) {
            kbdLevel = kbd;
            kbdIrq.setLevel(kbd);
        }
        if (aux != auxLevel) {
            auxLevel = aux;
            auxIrq.setLevel(aux);
        }
    }
}
