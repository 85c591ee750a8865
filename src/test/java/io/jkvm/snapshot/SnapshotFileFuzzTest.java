package io.jkvm.snapshot;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jkvm.testing.JazzerOnJava25;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Coverage-guided fuzzing (Jazzer) of a snapshot state file as {@link Snapshots#decode} reads it.
 * The MAC keeps a stranger's file out, so the interesting attacker holds the key (or the file
 * was written by a buggy jkvm): the input edits the header JSON and the payload of a valid state
 * file ({@link SnapshotFixtures}: two vCPUs with an in-kernel irqchip and a device record) and the
 * file is then signed with that key, so the fuzzer reaches the section and device decoders; or
 * the input is the whole file, unsigned (the framing and MAC checks).
 *
 * <p>Oracle: the file decodes or is refused with a {@link SnapshotException}; any other exception
 * or Error is a finding. Run longer with {@code bin/fuzz}.
 */
@ExtendWith(JazzerOnJava25.class)
class SnapshotFileFuzzTest {
    private static final Path FILE = Path.of("fuzz.state");
    private static byte[] header;
    private static byte[] payload;

    @FuzzTest(maxDuration = "10m")
    void stateFile(FuzzedDataProvider data) throws IOException {
        byte[] content = data.consumeBoolean() ? signed(data) : data.consumeRemainingAsBytes();
        try {
            Snapshots.decode(FILE, content, SnapshotFixtures.KEY);
        } catch (SnapshotException refused) {
            // the expected answer to a bad file
        }
    }

    /** A valid file's header and payload, each edited or replaced from the input, framed and signed. */
    private static byte[] signed(FuzzedDataProvider data) throws IOException {
        valid();
        byte[] h = data.consumeBoolean() ? edit(header, data) : data.consumeBytes(data.consumeInt(0, 4096));
        byte[] p = edit(payload, data);
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bos);
        out.write(SnapshotFile.MAGIC);
        out.writeInt(SnapshotFile.VERSION);
        out.writeInt(Protection.HMAC_SHA256.code);
        out.write(SnapshotFixtures.KEY.id());
        out.writeInt(h.length);
        out.write(h);
        out.writeLong(p.length);
        out.write(p);
        out.flush();
        byte[] body = bos.toByteArray();
        out.write(SnapshotFixtures.KEY.newMac().doFinal(body));
        out.flush();
        return bos.toByteArray();
    }

    private static byte[] edit(byte[] valid, FuzzedDataProvider data) {
        int len = data.consumeInt(0, valid.length + 64);
        byte[] b = Arrays.copyOf(valid, len);
        int edits = data.consumeInt(0, 8);
        for (int i = 0; i < edits && len > 0; i++) {
            b[data.consumeInt(0, len - 1)] = data.consumeByte();
        }
        return b;
    }

    /** Header JSON and payload of a valid HMAC-protected state file, made once. */
    private static synchronized void valid() {
        if (header != null) {
            return;
        }
        try {
            Path dir = Files.createTempDirectory("jkvm-fuzz-snap");
            Path state = dir.resolve("vm.state");
            Path mem = dir.resolve("vm.mem");
            SnapshotFixtures.write(SnapshotFixtures.state(2, true), 1, state, mem, SnapshotFixtures.KEY,
                    Protection.HMAC_SHA256, List.of(DeviceState.of("serial0", new byte[] {1, 2, 3})));
            byte[] c = Files.readAllBytes(state);
            int h = ByteBuffer.wrap(c).getInt(24);
            header = Arrays.copyOfRange(c, SnapshotFile.PREFIX, SnapshotFile.PREFIX + h);
            payload = Arrays.copyOfRange(c, SnapshotFile.PREFIX + h + 8, c.length - SnapshotFile.MAC_BYTES);
            Files.delete(state);
            Files.delete(mem);
            Files.delete(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
