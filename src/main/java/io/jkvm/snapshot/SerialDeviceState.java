package io.jkvm.snapshot;

import io.jkvm.device.legacy.Serial16550;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * {@link DeviceState} codec for the 16550 UART: version byte, nine u8 registers, the THRE
 * pending flag, and the receive FIFO (u16 length, at most {@link #MAX_FIFO} bytes).
 */
public final class SerialDeviceState {
    private SerialDeviceState() {}

    static final int VERSION = 1;
    static final int MAX_FIFO = 4096;

    public static DeviceState capture(String name, Serial16550 uart) {
        return DeviceState.of(name, encode(uart.state()));
    }

    /** Applies a state captured by {@link #capture}; a malformed one is refused, naming the device. */
    public static void apply(DeviceState s, Serial16550 uart) {
        uart.restore(decode(s.name(), s.bytes()));
    }

    static byte[] encode(Serial16550.State s) {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bos)) {
            out.writeByte(VERSION);
            for (int v : new int[] {s.dll(), s.dlm(), s.ier(), s.fcr(), s.lcr(), s.mcr(), s.lsrErrors(), s.msrDeltas(), s.scr()}) {
                out.writeByte(v);
            }
            out.writeBoolean(s.thriPending());
            byte[] fifo = s.rxFifo();
            out.writeShort(fifo.length);
            out.write(fifo);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bos.toByteArray();
    }

    static Serial16550.State decode(String name, byte[] b) {
        BoundedReader r = new BoundedReader(b, 0, b.length, null, "device " + name);
        int version = r.u8("version");
        if (version != VERSION) {
            throw r.fail("16550 state version " + version + ", this jkvm reads " + VERSION);
        }
        int[] v = new int[9];
        for (int i = 0; i < v.length; i++) {
            v[i] = r.u8("register");
        }
        boolean thri = r.u8("THRE flag") != 0;
        int n = r.u16("FIFO length");
        if (n > MAX_FIFO) {
            throw r.fail("FIFO length " + n + " exceeds " + MAX_FIFO);
        }
        byte[] fifo = r.bytes(n, "FIFO");
        r.expectEnd();
        return new Serial16550.State(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], thri, fifo);
    }
}
