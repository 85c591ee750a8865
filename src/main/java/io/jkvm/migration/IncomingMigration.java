package io.jkvm.migration;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import java.io.IOException;
import java.time.Duration;

/**
 * The destination side: waits on a TLS listening socket for one source, receives the stream
 * ({@link IncomingStream}), applies KVM state (as a snapshot restore does) and device states,
 * starts the VM and answers RESUMED.
 *
 * <p>A peer that fails the TLS handshake (no certificate, one not signed by the CA) is refused,
 * and so is a source whose configuration this destination cannot take (told why in REFUSED);
 * either way nothing was created and the destination goes on waiting. A source that was accepted
 * but then sends a bad stream or aborts ends the incoming migration with a
 * {@link MigrationException}; the half-received VM is discarded.
 */
public final class IncomingMigration {
    private static final Logger LOG = LoggerFactory.getLogger(IncomingMigration.class);
    /** Handshake failures tolerated before giving up (a scanner must not keep us waiting forever). */
    static final int MAX_REFUSED_PEERS = 64;

    private IncomingMigration() {}

    /** What arrived: the started VM and the stream's figures. */
    /** {@code apply}: from DONE to RESUMED (decode and apply KVM and device state, start). */
    public record Result(MigrationTarget target, long bytes, long pages, int rounds, Duration elapsed, Duration apply) {}

    /** Accepts connections until one source has migrated its VM here (or failed trying). */
    public static Result receive(SSLServerSocket server, MigrationTarget.Factory factory) throws IOException {
        for (int refused = 0; ; ) {
            SSLSocket s = (SSLSocket) server.accept();
            try {
                s.setSoTimeout(OutgoingMigration.IO_TIMEOUT_MS);
                s.startHandshake();
            } catch (IOException e) {
                s.close();
                LOG.warn("migration peer {} refused: {}", s.getRemoteSocketAddress(), e.toString());
                if (++refused >= MAX_REFUSED_PEERS) {
                    throw new MigrationException("gave up after " + refused + " peers failed the TLS handshake");
                }
                continue;
            }
            try (s) {
                return receiveFrom(s, factory);
            } catch (ConfigRefused e) {
                LOG.warn("migration source {} refused: {}", s.getRemoteSocketAddress(), e.getMessage());
                if (++refused >= MAX_REFUSED_PEERS) {
                    throw new MigrationException("gave up after " + refused + " refused peers; last: " + e.getMessage());
                }
            }
        }
    }

    static Result receiveFrom(SSLSocket s, MigrationTarget.Factory factory) throws IOException {
        return receiveFrom(s.getInputStream(), s.getOutputStream(), factory);
    }

    /** One source's stream on {@code input}, replies on {@code output}. */
    static Result receiveFrom(java.io.InputStream input, java.io.OutputStream output, MigrationTarget.Factory factory)
            throws IOException {
        long t0 = System.nanoTime();
        RecordReader in = new RecordReader(input);
        RecordWriter out = new RecordWriter(output);
        MigrationTarget[] target = new MigrationTarget[1];
        try {
            in.header();
            IncomingStream stream = new IncomingStream((config, shape, copiedDisks) -> {
                try {
                    target[0] = factory.create(config, shape);
                    target[0].receiveDisks(copiedDisks);
                } catch (MigrationException e) {
                    if (target[0] != null) {
                        target[0].close();
                        target[0] = null;
                    }
                    reply(out, Wire.REFUSED, e.getMessage());
                    throw new ConfigRefused("refused the source's configuration: " + e.getMessage());
                }
                reply(out, Wire.READY, null);
                return target[0].memory();
            }, new IncomingStream.DiskWriter() {
                public void write(int disk, long offset, byte[] data) {
                    target[0].writeDisk(disk, offset, data);
                }

                public void zero(int disk, long offset, long length) {
                    target[0].zeroDisk(disk, offset, length);
                }

                public void checkpoint() {
                    target[0].flushDisks();
                }
            });
            while (!stream.accept(in.read(stream))) {
                // records are applied as they arrive
            }
            long done = System.nanoTime();
            target[0].finishDisks();
            target[0].applyKvmState(stream.config(), stream.kvmState());
            target[0].restoreDevices(stream.devices());
            target[0].start();
            reply(out, Wire.RESUMED, null);
            long end = System.nanoTime();
            return new Result(target[0], in.bytes(), stream.pages(), stream.rounds(), Duration.ofNanos(end - t0),
                    Duration.ofNanos(end - done));
        } catch (IOException | RuntimeException | Error e) {
            // Errors too (OutOfMemoryError while applying state, say): the half-built VM must not
            // outlive the attempt, and the VMM goes on (it reports the failure).
            String why = e instanceof MigrationException ? e.getMessage() : e.toString();
            if (!(e instanceof ConfigRefused)) { // that one has been answered with REFUSED already
                try {
                    out.reason(Wire.FAILED, why);
                    out.flush();
                } catch (IOException | RuntimeException ignored) {
                    // the source is gone: nothing to tell it
                }
            }
            if (target[0] != null) {
                target[0].close();
            }
            throw e instanceof MigrationException me ? me : new MigrationException("incoming migration failed: " + why, e);
        }
    }

    /** The source's CONFIG was refused before anything was created: keep waiting for another source. */
    static final class ConfigRefused extends MigrationException {
        ConfigRefused(String message) {
            super(message);
        }
    }

    private static void reply(RecordWriter out, int type, String reason) {
        try {
            if (reason == null) {
                out.empty(type);
            } else {
                out.reason(type, reason);
            }
            out.flush();
        } catch (IOException e) {
            throw new MigrationException("cannot answer the source: " + e.getMessage(), e);
        }
    }
}
