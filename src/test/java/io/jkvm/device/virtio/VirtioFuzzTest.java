package io.jkvm.device.virtio;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.jkvm.net.MacAddress;
import io.jkvm.storage.DiskConfig;
import io.jkvm.testing.JazzerOnJava25;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Coverage-guided fuzz targets (Jazzer) for the virtio-pci transport and each device's request
 * path, with liveness and resource oracles ({@link VirtioFuzzRig}). In {@code mvn test} they
 * replay their corpus (src/test/resources/io/jkvm/device/virtio/VirtioFuzzTestInputs/); through
 * {@code bin/fuzz TARGET} (JAZZER_FUZZ=1, one target per run) each fuzzes for 10 minutes.
 */
@ExtendWith(JazzerOnJava25.class)
class VirtioFuzzTest {
    private static VirtioFuzzRig transport;
    private static VirtioFuzzRig block;
    private static VirtioFuzzRig net;
    private static VirtioFuzzRig console;
    private static VirtioFuzzRig vsock;
    private static VirtioFuzzRig balloon;

    /** Transport registers (common config, ISR, notify, MSI-X, PCI config and its window) over virtio-rng. */
    @FuzzTest(maxDuration = "10m")
    void transport(FuzzedDataProvider data) {
        if (transport == null) {
            transport = new VirtioFuzzRig(new VirtioRng(new java.util.Random(1)), new VirtioFuzzRig.Backend() {});
        }
        transport.run(data);
    }

    /** virtio-blk requests against a 64 KiB image. */
    @FuzzTest(maxDuration = "10m")
    void block(FuzzedDataProvider data) throws IOException {
        if (block == null) {
            Path dir = Files.createTempDirectory("jkvm-fuzz-blk");
            dir.toFile().deleteOnExit();
            Path img = Files.write(dir.resolve("disk.img"), new byte[64 << 10]);
            img.toFile().deleteOnExit();
            FileChannel ch = FileChannel.open(img, StandardOpenOption.WRITE);
            block = new VirtioFuzzRig(VirtioBlock.open(new DiskConfig(img, false, "fuzz")), new VirtioFuzzRig.Backend() {
                @Override
                public void reset() {
                    try {
                        ch.write(ByteBuffer.allocate(64 << 10), 0);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }
            });
        }
        block.run(data);
    }

    /** virtio-net: transmit chains, and frames arriving on the "TAP" (a socket pair). */
    @FuzzTest(maxDuration = "10m")
    void net(FuzzedDataProvider data) {
        if (net == null) {
            SocketPairBackend backend = new SocketPairBackend();
            net = new VirtioFuzzRig(new VirtioNet(backend, MacAddress.parse("52:54:00:00:00:01")), new VirtioFuzzRig.Backend() {
                @Override
                public void reset() {
                    while (backend.receive() != null) {
                        // drop what the guest sent
                    }
                }

                @Override
                public void event(FuzzedDataProvider d) {
                    byte[] frame = d.consumeBytes(d.consumeInt(0, 2048));
                    if (frame.length > 0) {
                        try {
                            backend.send(frame);
                        } catch (IllegalStateException full) {
                            // the socket's queue is full: a TAP drops too
                        }
                    }
                }
            });
        }
        net.run(data);
    }

    /** virtio-console: transmit chains and typed input. */
    @FuzzTest(maxDuration = "10m")
    void console(FuzzedDataProvider data) throws IOException {
        if (console == null) {
            PipedOutputStream typed = new PipedOutputStream();
            PipedInputStream in = new PipedInputStream(typed, 1 << 20);
            console = new VirtioFuzzRig(new VirtioConsole(in, OutputStream.nullOutputStream(), 80, 25), new VirtioFuzzRig.Backend() {
                @Override
                public void event(FuzzedDataProvider d) {
                    byte[] b = d.consumeBytes(64);
                    try {
                        if (in.available() < (512 << 10)) { // never block the fuzzer on a full pipe
                            typed.write(b);
                            typed.flush();
                        }
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }
            });
        }
        console.run(data);
    }

    /**
     * virtio-vsock: transmit packets, receive and event buffers, and host clients on its Unix
     * socket sending CONNECT lines and bytes; a host listener on {@code <uds>_1024} takes guest
     * connections (and never reads, so the guest side meets full sockets and its credit limit).
     */
    @FuzzTest(maxDuration = "10m")
    void vsock(FuzzedDataProvider data) throws IOException {
        if (vsock == null) {
            Path dir = Files.createTempDirectory("jkvm-fuzz-vsock");
            dir.toFile().deleteOnExit();
            Path uds = dir.resolve("v.sock");
            java.nio.channels.ServerSocketChannel listener = java.nio.channels.ServerSocketChannel.open(
                    java.net.StandardProtocolFamily.UNIX);
            listener.bind(java.net.UnixDomainSocketAddress.of(dir.resolve("v.sock_1024")));
            listener.configureBlocking(false);
            java.util.List<java.nio.channels.SocketChannel> clients = new java.util.ArrayList<>();
            vsock = new VirtioFuzzRig(new io.jkvm.device.virtio.vsock.VirtioVsock(3, uds), new VirtioFuzzRig.Backend() {
                @Override
                public void reset() {
                    for (java.nio.channels.SocketChannel c : clients) {
                        try {
                            c.close();
                        } catch (IOException e) {
                            // closing is all that is wanted
                        }
                    }
                    clients.clear();
                }

                @Override
                public void event(FuzzedDataProvider d) {
                    try {
                        java.nio.channels.SocketChannel accepted;
                        while ((accepted = listener.accept()) != null) {
                            clients.add(accepted);
                        }
                        if (clients.size() < 32) {
                            java.nio.channels.SocketChannel c = java.nio.channels.SocketChannel.open(
                                    java.net.StandardProtocolFamily.UNIX);
                            c.connect(java.net.UnixDomainSocketAddress.of(uds));
                            c.configureBlocking(false);
                            clients.add(c);
                            String line = d.consumeBoolean() ? "CONNECT " + d.consumeInt(0, 2048) + "\n" : "";
                            c.write(ByteBuffer.wrap((line + d.consumeString(64)).getBytes(
                                    java.nio.charset.StandardCharsets.ISO_8859_1)));
                        }
                    } catch (IOException e) {
                        // the device closed or refused the client: fine
                    }
                }
            });
        }
        vsock.run(data);
    }

    /**
     * virtio-balloon: inflate and deflate page arrays and statistics buffers, with the host
     * changing the target and the statistics interval. Pages are counted, not released (the rig's
     * RAM is not a guest mapping); the rig's CPU and allocation oracles bound the work per kick.
     */
    @FuzzTest(maxDuration = "10m")
    void balloon(FuzzedDataProvider data) {
        if (balloon == null) {
            VirtioBalloon device = new VirtioBalloon(1, true, 1, range -> true);
            balloon = new VirtioFuzzRig(device, new VirtioFuzzRig.Backend() {
                @Override
                public void event(FuzzedDataProvider d) {
                    if (d.consumeBoolean()) {
                        device.setTargetMib(d.consumeInt(0, 1024));
                    } else {
                        device.setStatsIntervalS(d.consumeInt(1, 3));
                    }
                }
            });
        }
        balloon.run(data);
    }
}
