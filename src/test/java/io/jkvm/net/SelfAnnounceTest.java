package io.jkvm.net;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

class SelfAnnounceTest {
    private static final MacAddress MAC = MacAddress.parse("52:54:00:12:34:56");

    @Test
    void frameIsABroadcastRarpRequestFromTheGuestsMacBehindAZeroVnetHeader() {
        byte[] f = SelfAnnounce.frame(MAC);
        assertThat(f).hasSize(Tap.VNET_HDR_SIZE + 60);
        assertThat(java.util.Arrays.copyOfRange(f, 0, 12)).containsOnly(0);
        byte[] eth = java.util.Arrays.copyOfRange(f, 12, f.length);
        assertThat(java.util.Arrays.copyOfRange(eth, 0, 6)).containsOnly((byte) 0xff);
        assertThat(java.util.Arrays.copyOfRange(eth, 6, 12)).isEqualTo(MAC.bytes());
        assertThat(u16(eth, 12)).isEqualTo(0x8035);
        assertThat(u16(eth, 14)).isEqualTo(1);
        assertThat(u16(eth, 16)).isEqualTo(0x0800);
        assertThat(eth[18]).isEqualTo((byte) 6);
        assertThat(eth[19]).isEqualTo((byte) 4);
        assertThat(u16(eth, 20)).isEqualTo(3);
        assertThat(java.util.Arrays.copyOfRange(eth, 22, 28)).isEqualTo(MAC.bytes());
        assertThat(java.util.Arrays.copyOfRange(eth, 28, 32)).containsOnly(0);
        assertThat(java.util.Arrays.copyOfRange(eth, 32, 38)).isEqualTo(MAC.bytes());
        assertThat(java.util.Arrays.copyOfRange(eth, 38, 60)).containsOnly(0);
    }

    @Test
    void sendsFivePacedRoundsOfTheSameFrame() throws InterruptedException {
        List<byte[]> sent = new ArrayList<>();
        List<Long> at = new ArrayList<>();
        long t0 = System.nanoTime();
        Thread t = SelfAnnounce.start("test-announce", MAC, f -> {
            synchronized (sent) {
                sent.add(f.toArray(ValueLayout.JAVA_BYTE));
                at.add((System.nanoTime() - t0) / 1_000_000);
            }
            return true;
        });
        t.join();
        assertThat(sent).hasSize(5).allSatisfy(f -> assertThat(f).isEqualTo(SelfAnnounce.frame(MAC)));
        for (int i = 1; i < 5; i++) { // sleeps never end early: no round before its offset from the start
            assertThat(at.get(i)).isGreaterThanOrEqualTo(SelfAnnounce.ROUND_OFFSETS_MS[i]);
        }
    }

    @Test
    void stopsWhenTheInterfaceIsGone() throws InterruptedException {
        AtomicInteger calls = new AtomicInteger();
        Thread t = SelfAnnounce.start("test-announce", MAC, (MemorySegment f) -> calls.incrementAndGet() < 2);
        t.join();
        assertThat(calls).hasValue(2);
    }

    private static int u16(byte[] b, int at) {
        return (b[at] & 0xff) << 8 | (b[at + 1] & 0xff);
    }
}
