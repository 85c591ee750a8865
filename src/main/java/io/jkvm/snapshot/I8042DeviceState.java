package io.jkvm.snapshot;

import io.jkvm.device.legacy.I8042;

/**
 * {@link DeviceState} codec for the i8042: version 1, u8 command byte, u8 output port, i16
 * pending controller and keyboard commands (-1 = none), u8 last-write-was-command, u8 data
 * latch, u8 queue length (at most 16) and per entry u16 (byte, bit 8 = aux port).
 */
public final class I8042DeviceState {
    private I8042DeviceState() {}

    static final int VERSION = 1;

    public static DeviceState capture(String name, I8042 kbd) {
        return DeviceState.of(name, encode(kbd.state()));
    }

    public static void apply(DeviceState s, I8042 kbd) {
        kbd.restore(decode(s.name(), s.bytes()));
    }

    static byte[] encode(I8042.State s) {
        StateWriter w = new StateWriter().u8(VERSION).u8(s.ctr()).u8(s.outport()).u16(s.pendingCommand() & 0xffff)
                .u16(s.pendingKbdCommand() & 0xffff).bool(s.lastWriteWasCommand()).u8(s.lastRead());
        int[] q = s.queue();
        w.u8(q.length);
        for (int v : q) {
            w.u16(v);
        }
        return w.toByteArray();
    }

    static I8042.State decode(String name, byte[] b) {
        BoundedReader r = new BoundedReader(b, 0, b.length, null, "device " + name);
        r.version(VERSION, "i8042 state");
        int ctr = r.u8("command byte");
        int outport = r.u8("output port");
        int pending = (short) r.u16("pending command");
        int pendingKbd = (short) r.u16("pending keyboard command");
        boolean lastCmd = r.bool("last write was command");
        int lastRead = r.u8("data latch");
        int n = r.u8("queue length");
        int[] q = new int[Math.min(n, 256)];
        for (int i = 0; i < n; i++) {
            q[i] = r.u16("queue entry");
        }
        r.expectEnd();
        try {
            return new I8042.State(ctr, outport, pending, pendingKbd, lastCmd, lastRead, q);
        } catch (IllegalArgumentException e) {
            throw r.fail(e.getMessage());
        }
    }
}
