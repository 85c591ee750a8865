package io.jkvm.display.vnc;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import net.jqwik.api.constraints.Size;

/**
 * Random bytes from a client, before or after the handshake, end at worst in that client being
 * disconnected: the server keeps serving, the framebuffer subscription goes away with the client,
 * and input that reaches the sink has valid key codes.
 */
class HostileClientProperties {
    private static Path dir;
    private static MemoryFramebuffer fb;
    private static VncServer server;
    private static final RecordingInput input = new RecordingInput();

    @BeforeContainer
    static void start() throws Exception {
        dir = Files.createTempDirectory("vnc-hostile");
        fb = new MemoryFramebuffer(64, 48);
        server = VncServer.unix(dir.resolve("s"), fb, input);
    }

    @AfterContainer
    static void stop() throws Exception {
        server.close();
        Files.deleteIfExists(dir);
    }

    @Property(tries = 60)
    void randomMessagesAfterTheHandshake(@ForAll @Size(max = 600) byte[] garbage, @ForAll boolean handshake)
            throws Exception {
        try (RfbTestClient c = RfbTestClient.connect(server.address())) {
            if (handshake) {
                c.handshakeNone();
            }
            c.send(garbage);
        }
        // A well-behaved client is still served afterwards.
        try (RfbTestClient ok = RfbTestClient.connect(server.address())) {
            ok.handshakeNone();
            ok.request(false, 0, 0, 64, 48);
            assertThat(ok.readUpdate(new int[64 * 48], 64)).isNotEmpty();
        }
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (server.clientCount() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertThat(server.clientCount()).isZero();
        assertThat(fb.subscribers()).isZero();
    }
}
