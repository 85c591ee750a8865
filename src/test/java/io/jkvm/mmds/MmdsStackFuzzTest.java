package io.jkvm.mmds;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jkvm.testing.JazzerOnJava25;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Coverage-guided fuzzing (Jazzer) of the MMDS network stack with hostile guest frames: up to 32
 * frames, each either raw bytes or a well-formed TCP/IPv4 frame to the MMDS address whose ports,
 * sequence numbers, flags and payload (often a piece of an HTTP request) are fuzzed, or an ARP
 * request; between frames the stack's output is drained.
 *
 * <p>Oracle: nothing but the stack's own results comes out (an exception is a finding); every
 * frame it emits fits {@link MmdsStack#MAX_FRAME} and carries valid IPv4 and TCP checksums; it
 * never holds more than {@link MmdsStack#MAX_CONNECTIONS} connections; a drain ends within a
 * fixed number of frames (nothing grows with the input).
 */
@ExtendWith(JazzerOnJava25.class)
class MmdsStackFuzzTest {
    private static final String[] REQUESTS = {"GET /latest/meta-data HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nAccept: application/json\r\n\r\n",
        "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 60\r\n\r\n",
        "GET /a HTTP/1.1\r\nX-metadata-token: AAAA\r\nConnection: close\r\n\r\n"};

    @FuzzTest(maxDuration = "10m")
    void frames(FuzzedDataProvider data) throws Exception {
        MmdsStore store = new MmdsStore(65536);
        store.put(new ObjectMapper().readTree("{\"latest\": {\"meta-data\": {\"a\": \"b\", \"n\": 1}}, \"a\": \"c\"}"));
        store.configure(data.consumeBoolean() ? MmdsVersion.V2 : MmdsVersion.V1, data.consumeBoolean());
        MmdsStack stack = new MmdsStack(LinkLocal.DEFAULT, store);
        byte[] out = new byte[MmdsStack.MAX_FRAME];
        int n = data.consumeInt(1, 32);
        for (int i = 0; i < n && data.remainingBytes() > 0; i++) {
            byte[] f = switch (data.consumeInt(0, 3)) {
                case 0 -> data.consumeBytes(1600);
                case 1 -> GuestTcp.arpRequest(data.consumeBoolean() ? LinkLocal.DEFAULT : data.consumeInt());
                default -> {
                    byte[] payload = data.consumeBoolean() ? data.pickValue(REQUESTS).getBytes() : data.consumeBytes(1400);
                    int cut = data.consumeInt(0, payload.length);
                    yield GuestTcp.tcp(data.consumeInt(40000, 40003), data.consumeBoolean() ? 80 : data.consumeInt(0, 65535),
                            data.consumeInt(), data.consumeInt(), data.consumeInt(0, 0x3f), data.consumeInt(0, 65535),
                            java.util.Arrays.copyOf(payload, cut), LinkLocal.DEFAULT);
                }
            };
            if (data.consumeBoolean() && f.length > 0) {
                f[data.consumeInt(0, f.length - 1)] = data.consumeByte(); // one corrupted byte
            }
            if (stack.isForMmds(f, f.length)) {
                stack.receive(f, f.length);
            }
            if (stack.connectionCount() > MmdsStack.MAX_CONNECTIONS) {
                throw new AssertionError("more than " + MmdsStack.MAX_CONNECTIONS + " connections");
            }
            int frames = 0;
            for (int len; (len = stack.poll(out)) > 0; ) {
                if (++frames > 200) {
                    throw new AssertionError("the stack keeps producing frames");
                }
                if (len > MmdsStack.MAX_FRAME) {
                    throw new AssertionError("frame of " + len + " bytes");
                }
                if (Packets.u16(out, 12) == 0x0800 && !GuestTcp.parse(out, len).checksumsOk()) {
                    throw new AssertionError("bad checksum in an emitted frame");
                }
            }
        }
    }
}
