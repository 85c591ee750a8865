package io.jkvm.device.virtio.vsock;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Bytes waiting for a slow host socket take memory by bytes, not by packets: a guest sending
 * one-byte packets fills 64 KiB chunks, and the bytes come out in order.
 */
class VsockHostBufferTest {
    @Test
    void tinyPacketsShareChunksAndKeepTheirOrder() {
        VsockConnection c = new VsockConnection(1024, 5000, null, VsockConnection.State.ESTABLISHED);
        int packets = 200_000;
        for (int i = 0; i < packets; i++) {
            c.appendToHost(ByteBuffer.wrap(new byte[] {(byte) i}));
        }
        assertThat(c.toHostBytes).isEqualTo(packets);
        assertThat(c.toHost).hasSize((packets + VsockConnection.CHUNK - 1) / VsockConnection.CHUNK);
        // Half read from the head (as a partial socket write leaves it), then more appended.
        c.toHost.peekFirst().position(100);
        c.appendToHost(ByteBuffer.wrap(new byte[] {42}));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (ByteBuffer b : c.toHost) {
            while (b.hasRemaining()) {
                out.write(b.get());
            }
        }
        byte[] all = out.toByteArray();
        assertThat(all).hasSize(packets - 100 + 1);
        for (int i = 100; i < packets; i++) {
            assertThat(all[i - 100]).as("byte %d", i).isEqualTo((byte) i);
        }
        assertThat(all[all.length - 1]).isEqualTo((byte) 42);
    }
}
