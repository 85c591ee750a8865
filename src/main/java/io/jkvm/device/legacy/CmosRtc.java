package io.jkvm.device.legacy;

import io.jkvm.device.BusDevice;
import io.jkvm.snapshot.Persist;
import io.jkvm.snapshot.RecordCodec;
import java.time.Clock;
import java.time.DayOfWeek;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.Objects;

/**
 * Motorola MC146818 real-time clock with 128 bytes of CMOS RAM, at ports 0x70 (index) and 0x71
 * (data): register with base {@code Layout.RTC_PORT} and length {@link #LENGTH}.
 *
 * <p>Writing the index port selects a register with bits 6:0; bit 7 is the NMI-disable gate of
 * the PC/AT, which we only record. Reads of the index port return 0xFF (it is write-only).
 *
 * <p><b>Time.</b> Time registers (0x00 seconds, 0x02 minutes, 0x04 hours, 0x06 day of week
 * [Sunday = 1], 0x07 day of month, 0x08 month, 0x09 year, 0x32 century) are computed from the
 * injected {@link Clock} on every access, plus an offset the guest establishes by writing them,
 * and are encoded per register B (DM: binary or BCD; 24/12: 24-hour or 12-hour with bit 7 = PM).
 * While register B's SET bit is 1 the registers are frozen (MC146818 datasheet: "SET ... the
 * update cycle is inhibited") and take the guest's writes; clearing SET commits them as the new
 * time. A write to a time register while SET is 0 takes effect at once. The offset is kept in
 * memory only. Out-of-range values a guest writes are clamped to a valid date.
 *
 * <p><b>Status registers.</b> A (0x0A): UIP always reads 0 (reads never race an update because
 * the values are computed atomically); the rest is stored. B (0x0B): fully writable; setting SET
 * clears UIE as the datasheet requires. C (0x0C): read-only, cleared by reading; UF is reported
 * if a second boundary passed since the last read. D (0x0D): VRT (0x80), battery good.
 *
 * <p><b>CMOS memory size bytes</b>, the layout PC firmware (and QEMU) use: 0x15/0x16 base
 * memory in KiB (640), 0x17/0x18 and 0x30/0x31 extended memory above 1 MiB in KiB (capped at
 * 65535), 0x34/0x35 memory between 16 MiB and 4 GiB in 64 KiB units (capped at 65535),
 * 0x5B..0x5D memory above 4 GiB in 64 KiB units (24 bits).
 *
 * <p>TODO: periodic, alarm and update-ended interrupts (IRQ 8) are not implemented; PF and AF
 * never become set and nothing is delivered even when PIE/AIE/UIE are enabled.
 */
public final class CmosRtc implements BusDevice, Persist<CmosRtc.State> {
    public static final int LENGTH = 2;

    public static final int REG_SECONDS = 0x00;
    public static final int REG_SECONDS_ALARM = 0x01;
    public static final int REG_MINUTES = 0x02;
    public static final int REG_MINUTES_ALARM = 0x03;
    public static final int REG_HOURS = 0x04;
    public static final int REG_HOURS_ALARM = 0x05;
    public static final int REG_DAY_OF_WEEK = 0x06;
    public static final int REG_DAY_OF_MONTH = 0x07;
    public static final int REG_MONTH = 0x08;
    public static final int REG_YEAR = 0x09;
    public static final int REG_A = 0x0a;
    public static final int REG_B = 0x0b;
    public static final int REG_C = 0x0c;
    public static final int REG_D = 0x0d;
    public static final int REG_CENTURY = 0x32;

    public static final int A_UIP = 0x80;
    public static final int B_SET = 0x80;
    public static final int B_PIE = 0x40;
    public static final int B_AIE = 0x20;
    public static final int B_UIE = 0x10;
    public static final int B_DM_BINARY = 0x04;
    public static final int B_24H = 0x02;
    public static final int C_IRQF = 0x80;
    public static final int C_UF = 0x10;
    public static final int D_VRT = 0x80;

    private static final int INTERRUPT_FLAGS = 0x70; // PF, AF, UF line up with PIE, AIE, UIE
    private static final int CMOS_SIZE = 128;
    private static final long KIB = 1024;
    private static final long MIB = 1024 * KIB;
    private static final long UNIT_64K = 64 * KIB;

    private final Clock clock;
    // Guarded by this.
    private final byte[] cmos = new byte[CMOS_SIZE];
    private int index;
    private boolean nmiDisabled;
    private Duration offset = Duration.ZERO;
    private long lastUpdateSecond;

    /**
     * @param clock host wall clock (UTC); read on each access to a time register
     * @param ramBelow4G bytes of guest RAM below 4 GiB (including the first MiB)
     * @param ramAbove4G bytes of guest RAM at and above 4 GiB
     */
    public CmosRtc(Clock clock, long ramBelow4G, long ramAbove4G) {
        if (ramBelow4G < 0 || ramAbove4G < 0) {
            throw new IllegalArgumentException("negative RAM size");
        }
        this.clock = Objects.requireNonNull(clock, "clock");
        cmos[REG_A] = 0x26; // 32.768 kHz time base, 1024 Hz rate select
        cmos[REG_B] = B_24H; // BCD, 24-hour: what PC firmware programs
        cmos[REG_D] = (byte) D_VRT;
        putWord(0x15, 640);
        long extKib = clamp(ramBelow4G / KIB - 1024, 0, 0xffff);
        putWord(0x17, (int) extKib);
        putWord(0x30, (int) extKib);
        long above16m = ramBelow4G > 16 * MIB ? clamp((ramBelow4G - 16 * MIB) / UNIT_64K, 0, 0xffff) : 0;
        putWord(0x34, (int) above16m);
        long above4g = clamp(ramAbove4G / UNIT_64K, 0, 0xff_ffff);
        cmos[0x5b] = (byte) above4g;
        cmos[0x5c] = (byte) (above4g >> 8);
        cmos[0x5d] = (byte) (above4g >> 16);
        lastUpdateSecond = now().toEpochSecond(ZoneOffset.UTC);
    }

    @Override
    public synchronized long read(long offset, int size) {
        if (offset == 1) {
            return readRegister(index);
        }
        return 0xff; // the index port is write-only
    }

    @Override
    public synchronized void write(long offset, int size, long value) {
        int v = (int) (value & 0xff);
        if (offset == 0) {
            index = v & 0x7f;
            nmiDisabled = (v & 0x80) != 0;
        } else if (offset == 1) {
            writeRegister(index, v);
        }
    }

    /** Whether the guest last wrote the index port with bit 7 (NMI disable) set. */
    public synchronized boolean nmiDisabled() {
        return nmiDisabled;
    }

    /**
     * Everything guest-visible (snapshots): the 128 CMOS bytes, the index latch, NMI disable and
     * the guest's offset from the host clock. Time keeps running on the host clock across a
     * restore, as a battery-backed RTC does while the machine is off.
     */
    public record State(byte[] cmos, int index, boolean nmiDisabled, long offsetNanos) {
        /** The 128 CMOS bytes, u8 index, u8 NMI disable, i64 guest clock offset from the host clock in nanoseconds. */
        public static final RecordCodec<State> CODEC = RecordCodec.of("cmos_rtc", State.class, (s, w) -> {
            for (byte b : s.cmos) {
                w.u8(b);
            }
            w.u8(s.index).bool(s.nmiDisabled).i64(s.offsetNanos);
        }, r -> new State(r.bytes(CMOS_SIZE, "CMOS bytes"), r.u8("index", 0, CMOS_SIZE - 1), r.bool("NMI disable"),
                r.i64("clock offset")));

        public State {
            if (cmos.length != CMOS_SIZE) {
                throw new IllegalArgumentException("CMOS must be " + CMOS_SIZE + " bytes, got " + cmos.length);
            }
            if (index < 0 || index >= CMOS_SIZE) {
                throw new IllegalArgumentException("CMOS index " + index + " out of 0..127");
            }
            // About 292 years either way: beyond that Instant arithmetic would overflow on reads.
            if (Math.abs(offsetNanos) > 9_000_000_000_000_000_000L) {
                throw new IllegalArgumentException("RTC offset out of range");
            }
            cmos = cmos.clone();
        }

        @Override
        public byte[] cmos() {
            return cmos.clone();
        }
    }

    @Override
    public synchronized State save() {
        long nanos;
        try {
            nanos = offset.toNanos();
        } catch (ArithmeticException e) {
            nanos = offset.isNegative() ? -9_000_000_000_000_000_000L : 9_000_000_000_000_000_000L;
        }
        return new State(cmos, index, nmiDisabled, nanos);
    }

    /** A clock restored from a {@link #save()}, as {@link #CmosRtc(Clock, long, long)} would build it. */
    public static CmosRtc restore(Clock clock, long ramBelow4G, long ramAbove4G, State s) {
        CmosRtc rtc = new CmosRtc(clock, ramBelow4G, ramAbove4G);
        rtc.load(s);
        return rtc;
    }

    private synchronized void load(State s) {
        System.arraycopy(s.cmos(), 0, cmos, 0, CMOS_SIZE);
        index = s.index();
        nmiDisabled = s.nmiDisabled();
        offset = Duration.ofNanos(s.offsetNanos());
        lastUpdateSecond = now().toEpochSecond(ZoneOffset.UTC);
    }

    /** The guest's clock minus the host clock (what the guest set); zero until it sets the time. */
    public synchronized Duration guestTimeOffset() {
        return offset;
    }

    /** Restores an offset from {@link #guestTimeOffset()} (e.g. persisted across restarts). */
    public synchronized void setGuestTimeOffset(Duration d) {
        offset = Objects.requireNonNull(d);
    }

    /** Raw CMOS byte, for inspection and tests (no time computation, no side effects). */
    public synchronized int cmosByte(int reg) {
        return cmos[reg & 0x7f] & 0xff;
    }

    private int readRegister(int reg) {
        if (isTimeRegister(reg) && !set()) {
            return encodeField(reg, now());
        }
        return switch (reg) {
            case REG_A -> cmos[REG_A] & 0x7f; // UIP never set
            case REG_C -> readC();
            case REG_D -> D_VRT;
            default -> cmos[reg] & 0xff;
        };
    }

    private void writeRegister(int reg, int v) {
        if (isTimeRegister(reg)) {
            if (set()) {
                cmos[reg] = (byte) v; // frozen: committed when SET is cleared
            } else {
                freezeInto(now());
                cmos[reg] = (byte) v;
                commit();
            }
            return;
        }
        switch (reg) {
            case REG_A -> cmos[REG_A] = (byte) (v & 0x7f);
            case REG_B -> writeB(v);
            case REG_C, REG_D -> { /* read-only */ }
            default -> cmos[reg] = (byte) v;
        }
    }

    private void writeB(int v) {
        boolean wasSet = set();
        if ((v & B_SET) != 0) {
            v &= ~B_UIE;
        }
        if (!wasSet && (v & B_SET) != 0) {
            freezeInto(now()); // encoded with the old format, as a real chip would hold them
        }
        if (wasSet && (v & B_SET) == 0) {
            commit(); // decoded in the format they were written in, before B changes
        }
        cmos[REG_B] = (byte) v;
    }

    private int readC() {
        int c = cmos[REG_C] & INTERRUPT_FLAGS;
        if (!set()) {
            long sec = now().toEpochSecond(ZoneOffset.UTC);
            if (sec != lastUpdateSecond) {
                c |= C_UF;
                lastUpdateSecond = sec;
            }
        }
        if ((c & cmos[REG_B] & INTERRUPT_FLAGS) != 0) {
            c |= C_IRQF;
        }
        cmos[REG_C] = 0;
        return c;
    }

    private boolean set() {
        return (cmos[REG_B] & B_SET) != 0;
    }

    private boolean binary() {
        return (cmos[REG_B] & B_DM_BINARY) != 0;
    }

    private boolean twentyFourHour() {
        return (cmos[REG_B] & B_24H) != 0;
    }

    private static boolean isTimeRegister(int reg) {
        return reg == REG_SECONDS || reg == REG_MINUTES || reg == REG_HOURS
                || (reg >= REG_DAY_OF_WEEK && reg <= REG_YEAR) || reg == REG_CENTURY;
    }

    private LocalDateTime now() {
        Instant t = clock.instant();
        try {
            t = t.plus(offset);
        } catch (ArithmeticException | java.time.DateTimeException e) {
            // unreachable with offsets we compute; keep host time rather than fail a guest read
        }
        return LocalDateTime.ofInstant(t, ZoneOffset.UTC);
    }

    private int encodeField(int reg, LocalDateTime t) {
        return switch (reg) {
            case REG_SECONDS -> encode(t.getSecond());
            case REG_MINUTES -> encode(t.getMinute());
            case REG_HOURS -> encodeHour(t.getHour());
            case REG_DAY_OF_WEEK -> encode(dayOfWeek(t.getDayOfWeek()));
            case REG_DAY_OF_MONTH -> encode(t.getDayOfMonth());
            case REG_MONTH -> encode(t.getMonthValue());
            case REG_YEAR -> encode(Math.floorMod(t.getYear(), 100));
            case REG_CENTURY -> encode(Math.floorMod(Math.floorDiv(t.getYear(), 100), 100));
            default -> 0;
        };
    }

    /** MC146818 day of week: 1 = Sunday .. 7 = Saturday. */
    private static int dayOfWeek(DayOfWeek d) {
        return d.getValue() % 7 + 1;
    }

    private void freezeInto(LocalDateTime t) {
        for (int reg : new int[] {REG_SECONDS, REG_MINUTES, REG_HOURS, REG_DAY_OF_WEEK,
                REG_DAY_OF_MONTH, REG_MONTH, REG_YEAR, REG_CENTURY}) {
            cmos[reg] = (byte) encodeField(reg, t);
        }
    }

    /** Interprets the time registers with the current format and makes them the guest's time. */
    private void commit() {
        int second = (int) clamp(decode(cmos[REG_SECONDS]), 0, 59);
        int minute = (int) clamp(decode(cmos[REG_MINUTES]), 0, 59);
        int hour = decodeHour(cmos[REG_HOURS] & 0xff);
        int year = (int) (clamp(decode(cmos[REG_CENTURY]), 0, 99) * 100 + clamp(decode(cmos[REG_YEAR]), 0, 99));
        int month = (int) clamp(decode(cmos[REG_MONTH]), 1, 12);
        int day = (int) clamp(decode(cmos[REG_DAY_OF_MONTH]), 1, YearMonth.of(year, month).lengthOfMonth());
        Instant target = LocalDateTime.of(year, month, day, hour, minute, second).toInstant(ZoneOffset.UTC);
        offset = Duration.between(clock.instant(), target);
    }

    private int encode(int x) {
        return binary() ? x : ((x / 10) << 4) | (x % 10);
    }

    private int decode(byte b) {
        int v = b & 0xff;
        return binary() ? v : (v >> 4) * 10 + (v & 0x0f);
    }

    private int encodeHour(int h) {
        if (twentyFourHour()) {
            return encode(h);
        }
        int h12 = h % 12 == 0 ? 12 : h % 12;
        return encode(h12) | (h >= 12 ? 0x80 : 0);
    }

    private int decodeHour(int v) {
        if (twentyFourHour()) {
            return (int) clamp(decode((byte) v), 0, 23);
        }
        boolean pm = (v & 0x80) != 0;
        int h12 = (int) clamp(decode((byte) (v & 0x7f)), 1, 12);
        return h12 % 12 + (pm ? 12 : 0);
    }

    private void putWord(int reg, int value) {
        cmos[reg] = (byte) value;
        cmos[reg + 1] = (byte) (value >> 8);
    }

    private static long clamp(long v, long lo, long hi) {
        return Math.max(lo, Math.min(hi, v));
    }
}
