package io.jkvm.migration;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.jkvm.snapshot.MachineConfig;

import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import java.io.IOException;
import java.time.Duration;
import java.util.List;

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
    /** Refused sources (authenticated, configuration not acceptable here) tolerated before giving up. */
    static final int MAX_REFUSED_PEERS = 64;
    /** Failed handshakes logged one by one ({@value}); after that, one line every 100th. */
    static final int HANDSHAKE_FAILURES_LOGGED = 10;

    private IncomingMigration() {}

    /**
     * What arrived: the started VM and the stream's figures. {@code apply}: from DONE to RESUMED
     * (decode and apply KVM and device state, start). {@code postcopy}: the fill still bringing in
     * the RAM pre-copy left behind, over the connection it now owns; null after a pre-copy.
     */
    public record Result(MigrationTarget target, long bytes, long pages, int rounds, Duration elapsed, Duration apply,
            io.jkvm.memory.LazyFill postcopy, ApplySteps steps) {}

    /**
     * Where the switch-over's time at the destination went, in ms: the copied disks made durable,
     * the vCPUs' KVM state set, the devices built from their states, the VM started. Logged with
     * each received migration, because the downtime a user sees is mostly this.
     */
    public record ApplySteps(long disksMs, long kvmStateMs, long devicesMs, long startMs) {}

    /** Accepts connections until one source has migrated its VM here (or failed trying). */
    public static Result receive(SSLServerSocket server, MigrationTarget.Factory factory) throws IOException {
        return receive(server, factory, OutgoingMigration.IO_TIMEOUT_MS);
    }

    /**
     * As above, each TLS handshake given {@code handshakeMillis} in all. Connections are taken one
     * at a time, and anyone who can reach the port can open one before authenticating: a deadline
     * on the whole handshake (not on each read, which a peer trickling one byte at a time keeps
     * resetting) means a real source behind such a peer waits at most that long, and a peer that
     * fails its handshake (a scanner, a source with an untrusted certificate) is logged and
     * forgotten, never counted toward giving up: otherwise unauthenticated connections alone
     * would end this VMM. Only authenticated sources whose configuration is refused count.
     */
    static Result receive(SSLServerSocket server, MigrationTarget.Factory factory, long handshakeMillis) throws IOException {
        long failedHandshakes = 0;
        for (int refused = 0; ; ) {
            SSLSocket s = (SSLSocket) server.accept();
            try {
                handshake(s, handshakeMillis);
            } catch (IOException e) {
                s.close();
                failedHandshakes++;
                if (failedHandshakes <= HANDSHAKE_FAILURES_LOGGED || failedHandshakes % 100 == 0) {
                    LOG.warn("migration peer {} refused: {} ({} failed handshakes so far)", s.getRemoteSocketAddress(),
                            e.getMessage(), failedHandshakes);
                }
                continue;
            }
            Result r = null;
            try {
                r = receiveFrom(s, factory);
                return r;
            } catch (ConfigRefused e) {
                LOG.warn("migration source {} refused: {}", s.getRemoteSocketAddress(), e.getMessage());
                if (++refused >= MAX_REFUSED_PEERS) {
                    throw new MigrationException("gave up after " + refused + " refused peers; last: " + e.getMessage());
                }
            } finally {
                if (r == null || r.postcopy() == null) { // post-copy: the fill closes it when done
                    s.close();
                }
            }
        }
    }

    /**
     * The TLS handshake, within {@code millis} from start to end; the socket is closed if it
     * overruns. Whichever settles first, the handshake or the deadline, wins: a socket handed on
     * is never closed under the stream by a deadline firing late.
     */
    private static void handshake(SSLSocket s, long millis) throws IOException {
        java.util.concurrent.atomic.AtomicBoolean settled = new java.util.concurrent.atomic.AtomicBoolean();
        Runnable reset = ConnectionReset.of(s);
        java.util.concurrent.ScheduledFuture<?> deadline = MigrationDeadlines.after(millis, () -> {
            if (settled.compareAndSet(false, true)) {
                reset.run();
            }
        });
        try {
            s.setSoTimeout(OutgoingMigration.IO_TIMEOUT_MS);
            s.setTcpNoDelay(true); // as the source's (MigrationTls.open): replies and post-copy's chunks are waited on
            s.startHandshake();
        } catch (IOException e) {
            if (!settled.compareAndSet(false, true)) {
                throw new IOException("the TLS handshake did not complete within " + millis + " ms", e);
            }
            throw e;
        } finally {
            deadline.cancel(false);
        }
        if (!settled.compareAndSet(false, true)) { // the deadline closed it as the handshake ended
            throw new IOException("the TLS handshake did not complete within " + millis + " ms");
        }
    }

    static Result receiveFrom(SSLSocket s, MigrationTarget.Factory factory) throws IOException {
        return receiveFrom(s.getInputStream(), s.getOutputStream(), factory, s, ConnectionReset.of(s));
    }

    /** One source's stream on {@code input}, replies on {@code output}. */
    static Result receiveFrom(java.io.InputStream input, java.io.OutputStream output, MigrationTarget.Factory factory)
            throws IOException {
        return receiveFrom(input, output, factory, () -> {}, () -> {});
    }

    /**
     * As above; {@code connection} is closed by a post-copy's fill once it no longer needs it,
     * and {@code reset} ends it at once when a reply cannot be written within the I/O timeout
     * (a source that stopped reading would otherwise hold this thread forever).
     */
    static Result receiveFrom(java.io.InputStream input, java.io.OutputStream output, MigrationTarget.Factory factory,
            AutoCloseable connection, Runnable reset) throws IOException {
        long t0 = System.nanoTime();
        RecordReader in = new RecordReader(input);
        RecordWriter out = new RecordWriter(output);
        MigrationTarget[] target = new MigrationTarget[1];
        PostcopyPull pull = null; // once set, a fill thread may be blocked reading the connection
        try {
            in.header();
            IncomingStream stream = new IncomingStream(new IncomingStream.OnConfig() {
                public io.jkvm.memory.GuestMemory accept(MachineConfig config, VmShape shape, List<Integer> copiedDisks) {
                    return accept(config, shape, copiedDisks, false);
                }

                public io.jkvm.memory.GuestMemory accept(MachineConfig config, VmShape shape, List<Integer> copiedDisks,
                        boolean postcopy) {
                    try {
                        if (postcopy) {
                            probePostcopy();
                        }
                        target[0] = factory.create(config, shape);
                        if (postcopy) {
                            try {
                                target[0].checkPostcopy();
                            } catch (IllegalStateException e) {
                                throw new MigrationException("post-copy: " + e.getMessage());
                            }
                        }
                        target[0].receiveDisks(copiedDisks);
                    } catch (MigrationException e) {
                        if (target[0] != null) {
                            target[0].close();
                            target[0] = null;
                        }
                        reply(out, Wire.REFUSED, e.getMessage(), reset);
                        throw new ConfigRefused("refused the source's configuration: " + e.getMessage());
                    }
                    reply(out, Wire.READY, null, reset);
                    return target[0].memory();
                }
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
            long disksDone = System.nanoTime();
            target[0].applyKvmState(stream.config(), stream.kvmState());
            long kvmStateDone = System.nanoTime();
            io.jkvm.memory.LazyFill fill = null;
            MigrationRecord.Postcopy pc = stream.postcopy();
            if (pc != null) {
                // From here the fill thread reads the connection (CHUNKs) and writes REQUESTs;
                // this thread only writes its replies, under the writer's monitor.
                java.util.BitSet missing = pc.missing();
                pull = new PostcopyPull(in, out, connection, reset, missing.cardinality(), OutgoingMigration.IO_TIMEOUT_MS);
                fill = target[0].fetchRam(Wire.POSTCOPY_CHUNK, pull, missing);
            }
            long devicesFrom = System.nanoTime();
            target[0].restoreDevices(stream.devices());
            long devicesDone = System.nanoTime();
            target[0].start();
            long started = System.nanoTime();
            reply(out, Wire.RESUMED, null, reset);
            if (pull != null) {
                pull.resumedSent();
            }
            long end = System.nanoTime();
            return new Result(target[0], in.bytes(), stream.pages(), stream.rounds(), Duration.ofNanos(end - t0),
                    Duration.ofNanos(end - done), fill, new ApplySteps(millis(disksDone - done),
                            millis(kvmStateDone - disksDone), millis(devicesDone - devicesFrom), millis(started - devicesDone)));
        } catch (IOException | RuntimeException | Error e) {
            // Errors too (OutOfMemoryError while applying state, say): the half-built VM must not
            // outlive the attempt, and the VMM goes on (it reports the failure).
            String why = e instanceof MigrationException ? e.getMessage() : e.toString();
            if (pull == null && target[0] != null) {
                // Before FAILED: the source takes its disk images' locks back when it reads it,
                // and this VM may hold them (a failure after the devices opened them).
                closeQuietly(target[0]);
                target[0] = null;
            }
            if (!(e instanceof ConfigRefused)) { // that one has been answered with REFUSED already
                try {
                    reply(out, Wire.FAILED, why, reset);
                } catch (RuntimeException ignored) {
                    // the source is gone (or stopped reading): nothing to tell it
                }
            }
            try {
                // With a post-copy fill running, first: a fill blocked reading the connection
                // would hold up the close below. The source then waits for the images' locks.
                connection.close();
            } catch (Exception ignored) {
                // already broken
            }
            if (target[0] != null) {
                target[0].close();
            }
            throw e instanceof MigrationException me ? me : new MigrationException("incoming migration failed: " + why, e);
        }
    }

    private static long millis(long nanos) {
        return nanos / 1_000_000;
    }

    private static void closeQuietly(MigrationTarget target) {
        try {
            target.close();
        } catch (RuntimeException e) {
            LOG.warn("closing the half-built VM of a failed migration: {}", e.toString());
        }
    }

    /** The source's CONFIG was refused before anything was created: keep waiting for another source. */
    static final class ConfigRefused extends MigrationException {
        ConfigRefused(String message) {
            super(message);
        }
    }

    /** The destination must be able to fill RAM on first touch before it agrees to post-copy. */
    private static void probePostcopy() {
        try {
            io.jkvm.memory.LazyFill.probe();
        } catch (RuntimeException e) {
            throw new MigrationException("post-copy: this destination cannot fetch guest RAM on first touch: "
                    + e.getMessage() + " (migrate without post-copy, or give the VMM /dev/userfaultfd)");
        }
    }

    /**
     * Writes one reply within the I/O timeout, waiting for the writer's monitor included (a
     * post-copy REQUEST may hold it): past that the connection is reset and the write fails.
     */
    private static void reply(RecordWriter out, int type, String reason, Runnable reset) {
        java.util.concurrent.ScheduledFuture<?> deadline = MigrationDeadlines.after(OutgoingMigration.IO_TIMEOUT_MS, reset);
        try {
            synchronized (out) {
                if (reason == null) {
                    out.empty(type);
                } else {
                    out.reason(type, reason);
                }
                out.flush();
            }
        } catch (IOException e) {
            throw new MigrationException("cannot answer the source: " + e.getMessage(), e);
        } finally {
            deadline.cancel(false);
        }
    }
}
