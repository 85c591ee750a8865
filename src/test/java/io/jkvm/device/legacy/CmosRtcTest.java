package io.jkvm.device.legacy;

import static io.jkvm.device.legacy.CmosRtc.*;
import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

class CmosRtcTest {
    static final long MIB = 1024 * 1024;
    static final long GIB = 1024 * MIB;

    /** A clock the test moves by hand. */
    static final class MutableClock extends Clock {
        Instant now;

        MutableClock(Instant now) {
            this.now = now;
        }

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }

    /** Thursday 29 February 2024, 13:45:56.250 UTC. */
    static final Instant T = Instant.parse("2024-02-29T13:45:56.250Z");

    MutableClock clock = new MutableClock(T);
    CmosRtc rtc = new CmosRtc(clock, 512 * MIB, GIB);

    int get(int reg) {
        rtc.write(0, 1, reg);
        return (int) rtc.read(1, 1);
    }

    void set(int reg, int v) {
        rtc.write(0, 1, reg);
        rtc.write(1, 1, v);
    }

    @Test
    void defaultIsBcd24Hour() {
        assertThat(get(REG_B)).isEqualTo(B_24H);
        assertThat(get(REG_SECONDS)).isEqualTo(0x56);
        assertThat(get(REG_MINUTES)).isEqualTo(0x45);
        assertThat(get(REG_HOURS)).isEqualTo(0x13);
        assertThat(get(REG_DAY_OF_WEEK)).isEqualTo(5); // Sunday = 1
        assertThat(get(REG_DAY_OF_MONTH)).isEqualTo(0x29);
        assertThat(get(REG_MONTH)).isEqualTo(0x02);
        assertThat(get(REG_YEAR)).isEqualTo(0x24);
        assertThat(get(REG_CENTURY)).isEqualTo(0x20);
    }

    @Test
    void binaryMode() {
        set(REG_B, B_24H | B_DM_BINARY);
        assertThat(get(REG_SECONDS)).isEqualTo(56);
        assertThat(get(REG_HOURS)).isEqualTo(13);
        assertThat(get(REG_DAY_OF_MONTH)).isEqualTo(29);
        assertThat(get(REG_YEAR)).isEqualTo(24);
        assertThat(get(REG_CENTURY)).isEqualTo(20);
    }

    @Test
    void twelveHourModeSetsPmBit() {
        set(REG_B, 0); // BCD, 12-hour
        assertThat(get(REG_HOURS)).isEqualTo(0x80 | 0x01);
        clock.now = Instant.parse("2024-02-29T00:10:00Z");
        assertThat(get(REG_HOURS)).isEqualTo(0x12); // 12 AM
        clock.now = Instant.parse("2024-02-29T12:10:00Z");
        assertThat(get(REG_HOURS)).isEqualTo(0x80 | 0x12); // 12 PM
        set(REG_B, B_DM_BINARY);
        clock.now = Instant.parse("2024-02-29T23:10:00Z");
        assertThat(get(REG_HOURS)).isEqualTo(0x80 | 11);
    }

    @Test
    void timeFollowsTheClock() {
        clock.now = T.plusSeconds(3600 * 24);
        assertThat(get(REG_DAY_OF_MONTH)).isEqualTo(0x01);
        assertThat(get(REG_MONTH)).isEqualTo(0x03);
        assertThat(get(REG_DAY_OF_WEEK)).isEqualTo(6);
    }

    @Test
    void guestSetsTimeWithSetBit() {
        set(REG_B, B_24H | B_SET);
        clock.now = T.plusSeconds(30); // frozen while SET
        assertThat(get(REG_SECONDS)).isEqualTo(0x56);
        set(REG_SECONDS, 0x00);
        set(REG_MINUTES, 0x30);
        set(REG_HOURS, 0x08);
        set(REG_DAY_OF_MONTH, 0x15);
        set(REG_MONTH, 0x06);
        set(REG_YEAR, 0x99);
        set(REG_CENTURY, 0x19);
        assertThat(get(REG_YEAR)).isEqualTo(0x99);
        set(REG_B, B_24H); // commit

        assertThat(get(REG_HOURS)).isEqualTo(0x08);
        assertThat(get(REG_YEAR)).isEqualTo(0x99);
        assertThat(get(REG_CENTURY)).isEqualTo(0x19);
        assertThat(get(REG_DAY_OF_WEEK)).isEqualTo(3); // 1999-06-15 was a Tuesday
        clock.now = clock.now.plusSeconds(61);
        assertThat(get(REG_MINUTES)).isEqualTo(0x31);
        assertThat(get(REG_SECONDS)).isEqualTo(0x01);
        assertThat(rtc.guestTimeOffset()).isNegative();
    }

    @Test
    void writeWhileRunningTakesEffectImmediately() {
        set(REG_MINUTES, 0x00);
        assertThat(get(REG_MINUTES)).isEqualTo(0x00);
        assertThat(get(REG_HOURS)).isEqualTo(0x13);
        assertThat(rtc.guestTimeOffset()).isEqualTo(Duration.ofMinutes(-45).minusMillis(250));
    }

    @Test
    void twelveHourWriteIsDecoded() {
        set(REG_B, B_SET); // 12-hour BCD
        set(REG_HOURS, 0x80 | 0x12); // 12 PM
        set(REG_B, B_24H);
        assertThat(get(REG_HOURS)).isEqualTo(0x12);
    }

    @Test
    void hostileTimeValuesAreClamped() {
        set(REG_B, B_24H | B_SET);
        set(REG_MONTH, 0xff);
        set(REG_DAY_OF_MONTH, 0x99);
        set(REG_HOURS, 0xff);
        set(REG_SECONDS, 0xff);
        set(REG_B, B_24H);
        assertThat(get(REG_MONTH)).isEqualTo(0x12);
        assertThat(get(REG_DAY_OF_MONTH)).isEqualTo(0x31);
        assertThat(get(REG_HOURS)).isEqualTo(0x23);
    }

    @Test
    void statusRegisters() {
        assertThat(get(REG_A) & A_UIP).isZero();
        set(REG_A, 0xff);
        assertThat(get(REG_A)).isEqualTo(0x7f);
        assertThat(get(REG_D)).isEqualTo(D_VRT);
        set(REG_D, 0);
        assertThat(get(REG_D)).isEqualTo(D_VRT);
        set(REG_B, B_SET | B_UIE | B_24H);
        assertThat(get(REG_B)).as("SET clears UIE").isEqualTo(B_SET | B_24H);
    }

    @Test
    void registerCReportsUpdatesAndClearsOnRead() {
        assertThat(get(REG_C)).isZero();
        clock.now = T.plusSeconds(1);
        assertThat(get(REG_C)).isEqualTo(C_UF);
        assertThat(get(REG_C)).isZero();
        set(REG_B, B_24H | B_UIE);
        clock.now = T.plusSeconds(2);
        assertThat(get(REG_C)).isEqualTo(C_IRQF | C_UF);
    }

    @Test
    void indexPortNmiBitAndGeneralRam() {
        rtc.write(0, 1, 0x80 | 0x40);
        assertThat(rtc.nmiDisabled()).isTrue();
        rtc.write(1, 1, 0xab);
        assertThat(get(0x40)).isEqualTo(0xab);
        assertThat(rtc.nmiDisabled()).isFalse();
        assertThat(rtc.read(0, 1)).isEqualTo(0xff);
    }

    @Test
    void memorySizeBytesForLargeRam() {
        assertThat(get(0x15) | get(0x16) << 8).isEqualTo(640);
        assertThat(get(0x17) | get(0x18) << 8).isEqualTo(0xffff);
        assertThat(get(0x30) | get(0x31) << 8).isEqualTo(0xffff);
        assertThat(get(0x34) | get(0x35) << 8).isEqualTo((512 - 16) * 16);
        assertThat(get(0x5b) | get(0x5c) << 8 | get(0x5d) << 16).isEqualTo(16384);
    }

    @Test
    void memorySizeBytesForSmallRam() {
        CmosRtc small = new CmosRtc(clock, 8 * MIB, 0);
        assertThat(small.cmosByte(0x17) | small.cmosByte(0x18) << 8).isEqualTo(7 * 1024);
        assertThat(small.cmosByte(0x34) | small.cmosByte(0x35) << 8).isZero();
        assertThat(small.cmosByte(0x5b) | small.cmosByte(0x5c) | small.cmosByte(0x5d)).isZero();
        CmosRtc huge = new CmosRtc(clock, 3 * GIB, 2048 * GIB); // 2 TiB: above-4G count saturates
        assertThat(huge.cmosByte(0x34) | huge.cmosByte(0x35) << 8).isEqualTo((3072 - 16) * 16);
        assertThat(huge.cmosByte(0x5b) | huge.cmosByte(0x5c) << 8 | huge.cmosByte(0x5d) << 16).isEqualTo(0xff_ffff);
    }
}
