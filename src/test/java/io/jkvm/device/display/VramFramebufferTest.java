package io.jkvm.device.display;

import io.jkvm.display.DamageListener;
import io.jkvm.display.DisplayMode;
import io.jkvm.display.Framebuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** The framebuffer over a plain memory segment standing in for KVM-mapped VRAM, damage driven by hand. */
class VramFramebufferTest {
    static final long VRAM = 4L << 20;
    final Arena arena = Arena.ofConfined();
    final MemorySegment mem = arena.allocate(VRAM, 4096);
    final Vram vram = Vram.over(mem);
    final FakeSource src = new FakeSource();
    final VramFramebuffer fb = new VramFramebuffer(vram, Duration.ofMillis(5), false);
    final Recorder rec = new Recorder();

    @AfterEach
    void close() {
        fb.close();
        arena.close();
    }

    static final class FakeSource implements ScanoutSource {
        Scanout scanout = Scanout.OFF;
        final List<Integer> dirtyPages = new ArrayList<>();
        boolean unknown;

        @Override
        public Scanout scanout() {
            return scanout;
        }

        @Override
        public boolean collectDirty(long[] bitmap) {
            java.util.Arrays.fill(bitmap, 0);
            for (int p : dirtyPages) {
                bitmap[p / 64] |= 1L << (p % 64);
            }
            dirtyPages.clear();
            boolean known = !unknown;
            unknown = false;
            return known;
        }
    }

    static final class Recorder implements DamageListener {
        final List<String> events = new ArrayList<>();

        @Override
        public void damaged(int x, int y, int width, int height) {
            events.add("damaged " + x + "," + y + " " + width + "x" + height);
        }

        @Override
        public void modeChanged(DisplayMode mode) {
            events.add("mode " + mode.width() + "x" + mode.height());
        }

        List<String> take() {
            List<String> out = List.copyOf(events);
            events.clear();
            return out;
        }
    }

    void pixel(long offset, int bgrx) {
        mem.set(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), offset, bgrx);
    }

    @Test
    void offWithoutADevice() {
        assertEquals(DisplayMode.OFF, fb.mode());
        assertThrows(IllegalArgumentException.class, () -> fb.readPixels(0, 0, 1, 1, new int[1]));
    }

    @Test
    void readsPixelsAsRgbWithStrideAndOffset() {
        fb.attach(src);
        // 4x3 at offset 8192, stride 32 bytes (8 pixels).
        src.scanout = new Scanout(4, 3, 8192, 32, false);
        pixel(8192 + 32 + 4, 0xff123456); // row 1, col 1, X byte set: must not leak
        pixel(8192 + 2 * 32 + 12, 0x00abcdef); // row 2, col 3
        pixel(8192 + 16, 0x00ffffff); // row 0, col 4: outside the 4-pixel row
        assertEquals(new DisplayMode(4, 3), fb.mode());
        int[] all = new int[12];
        fb.readPixels(0, 0, 4, 3, all);
        assertArrayEquals(new int[] {0, 0, 0, 0, 0, 0x123456, 0, 0, 0, 0, 0, 0xabcdef}, all);
        int[] part = new int[4];
        fb.readPixels(1, 1, 2, 2, part);
        assertArrayEquals(new int[] {0x123456, 0, 0, 0}, part);
        // Big endian: X, R, G, B in memory.
        src.scanout = new Scanout(4, 3, 8192, 32, true);
        mem.set(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN), 8192, 0x7f102030);
        int[] one = new int[1];
        fb.readPixels(0, 0, 1, 1, one);
        assertEquals(0x102030, one[0]);
    }

    @Test
    void refusesRectanglesOutsideTheModeAndShortDestinations() {
        fb.attach(src);
        src.scanout = new Scanout(4, 3, 0, 16, false);
        assertThrows(IllegalArgumentException.class, () -> fb.readPixels(0, 0, 5, 1, new int[5]));
        assertThrows(IllegalArgumentException.class, () -> fb.readPixels(3, 0, 2, 1, new int[2]));
        assertThrows(IllegalArgumentException.class, () -> fb.readPixels(0, 2, 1, 2, new int[2]));
        assertThrows(IllegalArgumentException.class, () -> fb.readPixels(-1, 0, 1, 1, new int[1]));
        assertThrows(IllegalArgumentException.class, () -> fb.readPixels(0, 0, 4, 3, new int[11]));
        assertThrows(IllegalArgumentException.class, () -> fb.readPixels(Integer.MAX_VALUE, 0, 2, 1, new int[2]));
        fb.readPixels(0, 0, 0, 0, new int[0]);
    }

    @Test
    void aScanoutPastVramIsOffEvenIfTheSourceSaysOtherwise() {
        fb.attach(src);
        src.scanout = new Scanout(1024, 768, VRAM - 4096, 4096, false);
        assertEquals(DisplayMode.OFF, fb.mode());
    }

    @Test
    void damageOnlyWhileSubscribedAndNothingWhenNothingChanged() {
        fb.attach(src);
        src.scanout = new Scanout(1024, 768, 0, 4096, false);
        src.dirtyPages.add(5);
        fb.poll(); // nobody listens: nothing consumed
        assertEquals(List.of(5), src.dirtyPages);
        Framebuffer.Subscription sub = fb.subscribe(rec);
        fb.poll();
        assertEquals(List.of("mode 1024x768"), rec.take(), "first the mode");
        fb.poll();
        assertEquals(List.of(), rec.take(), "nothing changed: nothing reported");
        src.dirtyPages.addAll(List.of(5, 6, 7, 100));
        fb.poll();
        assertEquals(List.of("damaged 0,5 1024x3", "damaged 0,100 1024x1"), rec.take(), "one rectangle per run of rows");
        fb.poll();
        assertEquals(List.of(), rec.take());
        sub.close();
        sub.close();
        src.dirtyPages.add(1);
        fb.poll();
        assertEquals(List.of(), rec.take());
        assertEquals(0, fb.subscribers());
    }

    @Test
    void pagesOutsideTheScanoutAndPartialRowsMapToRows() {
        fb.attach(src);
        // 800x600, stride 3200: page 0 covers rows 0-1 (4096 bytes), page 1 rows 1-2.
        src.scanout = new Scanout(800, 600, 4096, 3200, false);
        fb.subscribe(rec);
        fb.poll();
        rec.take();
        src.dirtyPages.addAll(List.of(0, 2, 1000)); // page 0 is before the scanout, page 1000 after its end (4096 + 1.92 MB)
        fb.poll();
        // page 2 = bytes 8192..12287 = scanout bytes 4096..8191 = rows 1..2
        assertEquals(List.of("damaged 0,1 800x2"), rec.take());
    }

    @Test
    void pageFlipAndUnknownLogDamageEverything() {
        fb.attach(src);
        src.scanout = new Scanout(640, 480, 0, 2560, false);
        fb.subscribe(rec);
        fb.poll();
        rec.take();
        src.scanout = new Scanout(640, 480, 480 * 2560, 2560, false);
        fb.poll();
        assertEquals(List.of("damaged 0,0 640x480"), rec.take());
        src.unknown = true;
        fb.poll();
        assertEquals(List.of("damaged 0,0 640x480"), rec.take());
        src.scanout = Scanout.OFF;
        fb.poll();
        assertEquals(List.of("mode 0x0"), rec.take());
        src.dirtyPages.add(3);
        fb.poll();
        assertEquals(List.of(), rec.take(), "no damage while off");
    }

    @Test
    void aFailingListenerDoesNotStopTheOthers() {
        fb.attach(src);
        src.scanout = new Scanout(640, 480, 0, 2560, false);
        fb.subscribe(new DamageListener() {
            @Override
            public void damaged(int x, int y, int width, int height) {
                throw new IllegalStateException("boom");
            }

            @Override
            public void modeChanged(DisplayMode mode) {
                throw new IllegalStateException("boom");
            }
        });
        fb.subscribe(rec);
        fb.poll();
        assertEquals(List.of("mode 640x480"), rec.take());
    }

    @Test
    void detachAndAttachAnotherDevice() {
        fb.attach(src);
        src.scanout = new Scanout(640, 480, 0, 2560, false);
        fb.detach(new FakeSource()); // not the attached one: no effect
        assertEquals(new DisplayMode(640, 480), fb.mode());
        fb.detach(src);
        assertEquals(DisplayMode.OFF, fb.mode());
    }

    @Test
    void thePollingThreadRunsOnlyWhileSubscribed() throws InterruptedException {
        try (VramFramebuffer auto = new VramFramebuffer(vram, Duration.ofMillis(1), true)) {
            auto.attach(src);
            src.scanout = new Scanout(640, 480, 0, 2560, false);
            assertFalse(auto.polling());
            CountDownLatch mode = new CountDownLatch(1);
            Framebuffer.Subscription s = auto.subscribe(new DamageListener() {
                @Override
                public void damaged(int x, int y, int width, int height) {}

                @Override
                public void modeChanged(DisplayMode m) {
                    assertNotEquals("main", Thread.currentThread().getName());
                    mode.countDown();
                }
            });
            assertTrue(auto.polling());
            assertTrue(mode.await(30, TimeUnit.SECONDS), "the poller reports the mode on its own thread");
            s.close();
            assertFalse(auto.polling());
        }
    }
}
