package io.jkvm.storage;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jkvm.testing.JazzerOnJava25;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.List;

/**
 * Coverage-guided fuzzing (Jazzer) of {@link Qcow2Image} on hostile images: the input edits one
 * of the qemu-made seed images (or replaces it whole), which is opened read-only or read-write
 * and then read, written, zeroed and flushed where the input says ({@link Qcow2Hostile}).
 *
 * <p>Oracle: only {@link java.io.IOException} comes out of the parser (any other exception or
 * Error is a finding); {@link MemoryFile} makes a read outside the file or unbounded growth of
 * the file an {@link AssertionError}; allocations are bounded by the file size and the cluster
 * size (at most 2 MiB). Run longer with {@code bin/fuzz}.
 */
@ExtendWith(JazzerOnJava25.class)
class Qcow2ImageFuzzTest {
    @FuzzTest(maxDuration = "10m")
    void hostileImage(FuzzedDataProvider data) {
        boolean readOnly = data.consumeBoolean();
        byte[] image;
        if (data.consumeBoolean()) {
            image = Qcow2Hostile.SEEDS[data.consumeInt(0, Qcow2Hostile.SEEDS.length - 1)].clone();
            int edits = data.consumeInt(0, 16);
            for (int i = 0; i < edits; i++) {
                int window = data.consumeBoolean() ? Math.min(image.length, 2048) : image.length;
                image[data.consumeInt(0, window - 1)] = data.consumeByte();
            }
        } else {
            image = data.consumeBytes(data.consumeInt(0, 16384));
        }
        List<Qcow2Hostile.Op> ops = new ArrayList<>();
        int n = data.consumeInt(0, 6);
        for (int i = 0; i < n; i++) {
            ops.add(new Qcow2Hostile.Op(data.consumeInt(0, 3), data.consumeLong(), data.consumeInt(0, 70_000)));
        }
        Qcow2Hostile.exercise(image, readOnly, ops);
    }
}
