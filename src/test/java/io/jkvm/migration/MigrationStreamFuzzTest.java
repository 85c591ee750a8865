package io.jkvm.migration;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jkvm.testing.JazzerOnJava25;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;

/**
 * Coverage-guided fuzzing (Jazzer) of what a migration destination reads from the network: a
 * hostile or broken source's stream, given whole to {@link IncomingMigration#receiveFrom} with a
 * destination that has no KVM ({@link IncomingResourceTest.FakeTarget}). The input edits a valid
 * stream ({@link StreamFixture#valid()}: config, page rounds, zero pages, KVM state, a device
 * record, done; or one that switches to post-copy, whose fill then reads chunks from what
 * follows) or replaces it, so the fuzzer starts past the framing.
 *
 * <p>Oracles: the stream is accepted or refused with a {@link MigrationException} whose cause, if
 * any, is an I/O error (a truncated stream) or another MigrationException; anything else (an
 * index or null-pointer bug, an Error) is a finding, even though the destination wraps it for its
 * caller. A destination VM built for a refused stream is closed. Run longer with {@code bin/fuzz}.
 */
@ExtendWith(JazzerOnJava25.class)
class MigrationStreamFuzzTest {
    /** What the destination accepts: the fixture's machine, not a source's claim of terabytes. */
    private static final long MAX_RAM = 64L << 20;
    private static final byte[] VALID = StreamFixture.valid();
    /** A stream that switches to post-copy: the destination's fill then reads what follows DONE. */
    private static final byte[] VALID_POSTCOPY = StreamFixture.stream(w -> {
        w.config(StreamFixture.CONFIG, null, java.util.List.of(), true);
        w.pages(new long[] {0x1000}, StreamFixture.page(1), 1);
        w.round(0, 1);
        java.util.BitSet missing = new java.util.BitSet();
        missing.set(0);
        missing.set(3);
        w.postcopy((int) (StreamFixture.RAM / Wire.POSTCOPY_CHUNK), missing);
        w.kvmState(new byte[] {1});
        w.empty(Wire.DONE);
        w.chunk(0, new byte[Wire.POSTCOPY_CHUNK], Wire.POSTCOPY_CHUNK);
    });

    @FuzzTest(maxDuration = "10m")
    void stream(FuzzedDataProvider data) {
        byte[] bytes = data.consumeBoolean() ? edited(data) : data.consumeRemainingAsBytes();
        IncomingResourceTest.FakeTarget[] made = new IncomingResourceTest.FakeTarget[1];
        try {
            IncomingMigration.Result r = IncomingMigration.receiveFrom(new ByteArrayInputStream(bytes), new ByteArrayOutputStream(),
                    (config, shape) -> {
                        if (config.memoryBytes() > MAX_RAM) {
                            throw new MigrationException("guest RAM " + config.memoryBytes() + " over this destination's " + MAX_RAM);
                        }
                        made[0] = new IncomingResourceTest.FakeTarget(config);
                        return made[0];
                    });
            r.target().close();
        } catch (MigrationException e) {
            Throwable cause = e.getCause();
            if (cause != null && !(cause instanceof IOException) && !(cause instanceof MigrationException)) {
                throw new AssertionError("the destination failed on a bug, not on the stream: " + cause, cause);
            }
            if (made[0] != null && !made[0].closed) {
                throw new AssertionError("a refused stream left its destination VM open");
            }
        } catch (IOException e) {
            throw new AssertionError("receiveFrom let an I/O error through unwrapped", e);
        }
    }

    /** The valid stream with byte edits, a cut or an extension from the input. */
    private static byte[] edited(FuzzedDataProvider data) {
        byte[] base = data.consumeBoolean() ? VALID : VALID_POSTCOPY;
        int len = data.consumeInt(0, base.length + 256);
        byte[] b = java.util.Arrays.copyOf(base, len);
        int edits = data.consumeInt(0, 16);
        for (int i = 0; i < edits && len > 0; i++) {
            b[data.consumeInt(0, len - 1)] = data.consumeByte();
        }
        return b;
    }
}
