package io.jkvm.snapshot;

import io.jkvm.device.legacy.CmosRtc;

/**
 * {@link DeviceState} codec for the CMOS RTC: version 1, the 128 CMOS bytes, u8 index, u8 NMI
 * disable, i64 guest clock offset from the host clock in nanoseconds.
 */
public final class CmosRtcDeviceState {
    private CmosRtcDeviceState() {}

    static final int VERSION = 1;

    public static DeviceState capture(String name, CmosRtc rtc) {
        return DeviceState.of(name, encode(rtc.state()));
    }

    public static void apply(DeviceState s, CmosRtc rtc) {
        rtc.restore(decode(s.name(), s.bytes()));
    }

    static byte[] encode(CmosRtc.State s) {
        StateWriter w = new StateWriter().u8(VERSION);
        for (byte b : s.cmos()) {
            w.u8(b);
        }
        return w.u8(s.index()).bool(s.nmiDisabled()).i64(s.offsetNanos()).toByteArray();
    }

    static CmosRtc.State decode(String name, byte[] b) {
        BoundedReader r = new BoundedReader(b, 0, b.length, null, "device " + name);
        r.version(VERSION, "CMOS RTC state");
        byte[] cmos = r.bytes(128, "CMOS bytes");
        int index = r.u8("index");
        boolean nmi = r.bool("NMI disable");
        long offset = r.i64("clock offset");
        r.expectEnd();
        try {
            return new CmosRtc.State(cmos, index, nmi, offset);
        } catch (IllegalArgumentException e) {
            throw r.fail(e.getMessage());
        }
    }
}
