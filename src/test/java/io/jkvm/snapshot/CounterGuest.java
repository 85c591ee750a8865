package io.jkvm.snapshot;

import io.jkvm.device.BusDevice;
import io.jkvm.memory.GuestMemory;
import io.jkvm.testing.TestGuest;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A 32-bit guest that forever rewrites a 64 KiB buffer with word[i] = counter + i, then
 * increments the counter, stores it at {@link #COUNTER} and reports it on port {@link #PORT}.
 * Used by the save-here, restore-in-another-process test.
 */
public final class CounterGuest {
    private CounterGuest() {}

    public static final long ORIGIN = 0x1000;
    public static final long BUFFER = 0x10000;
    public static final int WORDS = 16384;
    public static final long COUNTER = 0x9000;
    public static final int PORT = 0x530;
    public static final long RAM = 4 << 20;

    public static byte[] code() {
        return TestGuest.assemble("""
                .code32
                    xor %esi, %esi
                outer:
                    mov $0x10000, %edi
                    mov %esi, %eax
                    mov $16384, %ecx
                inner:
                    mov %eax, (%edi)
                    add $4, %edi
                    inc %eax
                    dec %ecx
                    jnz inner
                    inc %esi
                    mov %esi, 0x9000
                    mov $0x530, %dx
                    mov %esi, %eax
                    out %eax, %dx
                    jmp outer
                """, ORIGIN);
    }

    /** Port device recording the first and the latest counter the guest reported. */
    public static final class Progress implements BusDevice {
        public final AtomicInteger first = new AtomicInteger(-1);
        public final AtomicInteger last = new AtomicInteger(-1);

        @Override
        public long read(long offset, int size) {
            return 0;
        }

        @Override
        public void write(long offset, int size, long value) {
            first.compareAndSet(-1, (int) value);
            last.set((int) value);
        }

        /** Polls the guest-reported counter until it reaches {@code atLeast} or the deadline passes. */
        public boolean awaitAtLeast(int atLeast, long timeoutNanos) {
            long deadline = System.nanoTime() + timeoutNanos;
            while (last.get() < atLeast) {
                if (System.nanoTime() > deadline) {
                    return false;
                }
                Thread.onSpinWait();
            }
            return true;
        }
    }

    /**
     * Null if the buffer is consistent with {@code counter} completed passes: a prefix already
     * rewritten by pass {@code counter} (word = counter + i), the rest from the previous pass.
     */
    public static String patternProblem(GuestMemory mem, int counter) {
        int i = 0;
        while (i < WORDS && mem.readInt(BUFFER + 4L * i) == counter + i) {
            i++;
        }
        for (int j = i; j < WORDS; j++) {
            int want = counter == 0 ? 0 : counter - 1 + j;
            int got = mem.readInt(BUFFER + 4L * j);
            if (got != want) {
                return "word " + j + " is " + got + ", expected " + want + " (counter " + counter + ", rewritten prefix " + i + ")";
            }
        }
        return null;
    }

    public static String checksum(GuestMemory mem) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            for (GuestMemory.Region r : mem.regions()) {
                d.update(r.host().asByteBuffer());
            }
            return HexFormat.of().formatHex(d.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
