package io.jkvm.device.virtio;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jkvm.testing.JazzerOnJava25;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Fuzz target (Jazzer) for what a balloon driver writes into an inflate or deflate buffer
 * (virtio 1.2 §5.5.6): any bytes, at any length, split over any descriptors. Oracles: no
 * exception; a malformed buffer releases nothing; every range released is page aligned and
 * inside guest RAM; the number of release calls never exceeds {@link BalloonPages#MAX_PFNS}
 * whatever the entries say. {@code bin/fuzz balloonpages} fuzzes it for 10 minutes.
 */
@ExtendWith(JazzerOnJava25.class)
class VirtioBalloonFuzzTest {
    private static GuardedMemory memory;

    @FuzzTest(maxDuration = "10m")
    void pageArray(FuzzedDataProvider data) {
        if (memory == null) {
            memory = new GuardedMemory();
        }
        memory.memory.fill(GuardedMemory.HIGH, GuardedMemory.REGION, (byte) 0);
        // The buffers: up to four, in the high region, of lengths the input picks.
        int n = data.consumeInt(1, 4);
        List<GuestBuffer> bufs = new java.util.ArrayList<>();
        long at = GuardedMemory.HIGH;
        for (int i = 0; i < n; i++) {
            int len = data.consumeInt(0, 6000);
            if (at + len > GuardedMemory.HIGH + GuardedMemory.REGION) {
                break;
            }
            bufs.add(new GuestBuffer(at, len));
            at += len;
        }
        byte[] payload = data.consumeBytes((int) (at - GuardedMemory.HIGH));
        memory.memory.write(GuardedMemory.HIGH, payload);
        DescriptorChain c = new DescriptorChain(memory.memory, 0, bufs, List.of());
        int[] calls = {0};
        BalloonPages.Releaser check = range -> {
            calls[0]++;
            check(range);
            return data.consumeBoolean();
        };
        BalloonPages pages = new BalloonPages();
        BalloonPages.Outcome o = data.consumeBoolean() ? pages.inflate(c, memory.memory, check)
                : pages.deflate(c, memory.memory);
        if (o.refused() && calls[0] != 0) {
            throw new AssertionError("a refused buffer released " + calls[0] + " ranges");
        }
        if (calls[0] > BalloonPages.MAX_PFNS) {
            throw new AssertionError(calls[0] + " release calls for one buffer");
        }
        if ((long) o.pages() + o.outsideRam() > c.readableLength() / 4) {
            throw new AssertionError(o + " counts more pages than the buffer holds");
        }
        memory.assertGuardsIntact();
    }

    /** A released range must be whole pages of guest RAM (one of GuardedMemory's two regions). */
    private static void check(MemorySegment range) {
        if (range.byteSize() <= 0 || range.byteSize() % BalloonPages.PAGE != 0) {
            throw new AssertionError("released " + range.byteSize() + " bytes: not whole pages");
        }
        for (io.jkvm.memory.GuestMemory.Region r : memory.memory.regions()) {
            long off = range.address() - r.host().address();
            if (off >= 0 && off + range.byteSize() <= r.size()) {
                if (off % BalloonPages.PAGE != 0) {
                    throw new AssertionError("released range at region offset " + off + ": not page aligned");
                }
                return;
            }
        }
        throw new AssertionError("released a range outside guest RAM");
    }
}
