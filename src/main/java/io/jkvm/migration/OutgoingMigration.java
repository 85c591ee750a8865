package io.jkvm.migration;

import io.jkvm.storage.LoggedDisk;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.KvmSection;
import io.jkvm.snapshot.MachineConfig;
import io.jkvm.vmm.DirtyTracker;
import io.jkvm.vmm.Machine;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.List;

/**
 * Pre-copy live migration of one VM to a destination ({@link IncomingMigration}) over
 * {@link MigrationTls}.
 *
 * <ol>
 *   <li>Connect (mutual TLS 1.3), send CONFIG, wait for READY or REFUSED.</li>
 *   <li>With storage, copy each copied disk whole while the guest runs; its device logs what
 *       the guest writes meanwhile ({@link DiskSender}).</li>
 *   <li>Start dirty logging ({@link DirtyTracker}), send all non-zero RAM (round 0) while the
 *       guest runs.</li>
 *   <li>Rounds: collect the dirty set (pages and disk chunks), and unless {@link Convergence} says it fits the downtime
 *       target at the measured bandwidth, resend it (throttling vCPUs when rounds stop
 *       shrinking).</li>
 *   <li>Pause the VM (the downtime starts), take device states (drains I/O, fsyncs disks), send
 *       the last dirty set (it includes what the devices wrote while draining), the "kvm" state
 *       section and device states, DONE; the destination applies them, starts, answers RESUMED,
 *       and the VM stops here.</li>
 * </ol>
 * With post-copy allowed ({@link Convergence#postcopy()}) and pre-copy not converging, the pause
 * sends no pages: a POSTCOPY record names the chunks still dirty, the destination starts the VM
 * at once and fetches them as it touches them ({@link PostcopySender}, {@link PostcopyPull}); the
 * migration completes when it says all arrived (FILLED). A connection lost after RESUMED loses the
 * guest: it cannot go on at either end, the report says so and the VM here stops.
 *
 * <p>
 * Any failure or a cancel before DONE is sent leaves the VM running here as before: logging off,
 * throttle off, vCPUs resumed. If the connection breaks after DONE but before RESUMED arrives,
 * it cannot be known whether the destination started; the VM is resumed here and the report
 * says so (the operator must check the destination).
 */
public final class OutgoingMigration {
    private static final Logger LOG = LoggerFactory.getLogger(OutgoingMigration.class);
    /**
     * How long either side waits for the peer's next bytes before declaring it gone: 60 s, or
     * {@code JKVM_MIGRATION_IO_TIMEOUT_MS} / {@code -Djkvm.migration.io-timeout-ms} (1 s to 1 h) on
     * hosts where a VMM's start-up alone takes longer (an emulated machine such as the lab).
     */
    static final int IO_TIMEOUT_MS = ioTimeoutMs();

    private static int ioTimeoutMs() {
        String v = System.getProperty("jkvm.migration.io-timeout-ms", System.getenv("JKVM_MIGRATION_IO_TIMEOUT_MS"));
        if (v != null && !v.isBlank()) {
            try {
                long ms = Long.parseLong(v.strip());
                if (ms >= 1000 && ms <= 3_600_000) {
                    return (int) ms;
                }
            } catch (NumberFormatException e) {
                // fall through
            }
            LoggerFactory.getLogger(OutgoingMigration.class).warn(
                    "JKVM_MIGRATION_IO_TIMEOUT_MS={}: not a number of milliseconds from 1000 to 3600000; using 60000", v);
        }
        return 60_000;
    }

    /**
     * What the source reads: replies only (READY, REFUSED, RESUMED, FAILED, and post-copy's
     * REQUEST and FILLED, types 0x8x), so a destination cannot make it take a source's record of
     * megabytes (a POSTCOPY bitmap, KVM state) into the VMM that runs the guest.
     */
    static final RecordReader.Limits REPLIES = type -> Wire.isReply(type)
            ? new RecordReader.Limit(RecordReader.maxLength(type), null)
            : new RecordReader.Limit(0, "the destination may send only replies");

    private final MigrationSource source;
    private final MigrationAddress to;
    private final MigrationTls tls;
    private final Convergence convergence;
    private final List<String> copyDrives;
    private final Object lock = new Object();

    private volatile boolean cancelled;
    private volatile MigrationTls.Connection socket;
    private volatile RecordWriter writer;
    private volatile boolean stalled;
    private volatile PageSender sender;
    private volatile DiskSender diskSender;
    private volatile long diskBytes;
    private volatile long diskDirtyBytes;
    private final Duration stallTimeout;
    private volatile boolean doneSent;
    // Progress, written by the migration thread and read by status().
    private volatile MigrationReport.Status status = MigrationReport.Status.ACTIVE;
    private volatile String phase = "connecting";
    private volatile long startNanos;
    private volatile long endNanos;
    private volatile long downtimeNanos;
    private volatile long pauseNanos;
    private volatile long finalSendNanos;
    private volatile long destinationNanos;
    private volatile long bytes;
    private volatile int rounds;
    private volatile long pagesSent;
    private volatile long dirtyPages;
    private volatile long finalPages;
    private volatile int throttle;
    private volatile double bandwidth;
    private volatile String error;
    private volatile PostcopySender postcopy;
    private volatile long postcopyNanos;
    /** RESUMED arrived in post-copy: from here a failure loses the guest instead of rolling back. */
    private volatile boolean runningThere;

    public OutgoingMigration(MigrationSource source, MigrationAddress to, MigrationTls tls, Convergence convergence) {
        this(source, to, tls, convergence, List.of());
    }

    /** With storage: the contents of the disks {@code copyDrives} names travel too (see {@link LoggedDisk}). */
    public OutgoingMigration(MigrationSource source, MigrationAddress to, MigrationTls tls, Convergence convergence,
            List<String> copyDrives) {
        this(source, to, tls, convergence, Duration.ofMillis(IO_TIMEOUT_MS), copyDrives);
    }

    /**
     * {@code stallTimeout}: a destination that accepts no bytes for this long is given up on
     * (reads have the same timeout through SO_TIMEOUT).
     */
    OutgoingMigration(MigrationSource source, MigrationAddress to, MigrationTls tls, Convergence convergence,
            Duration stallTimeout) {
        this(source, to, tls, convergence, stallTimeout, List.of());
    }

    OutgoingMigration(MigrationSource source, MigrationAddress to, MigrationTls tls, Convergence convergence,
            Duration stallTimeout, List<String> copyDrives) {
        this.copyDrives = List.copyOf(copyDrives);
        this.stallTimeout = stallTimeout;
        this.source = source;
        this.to = to;
        this.tls = tls;
        this.convergence = convergence;
        this.startNanos = System.nanoTime();
    }

    /** A snapshot of the progress (or the final report once {@link MigrationReport.Status#finished()}). */
    public MigrationReport status() {
        MigrationReport.Status now = status;
        long end = now.finished() ? endNanos : System.nanoTime();
        long sentBytes = bytes;
        long sentPages = pagesSent;
        long roundBytes = 0;
        long remaining = 0;
        long disk = diskBytes;
        RecordWriter w = writer;
        PageSender p = sender;
        DiskSender ds = diskSender;
        if (!now.finished()) { // live figures: the migration thread updates its own only between rounds
            if (w != null) {
                sentBytes = w.bytes();
            }
            if (ds != null) {
                disk = ds.bytesSoFar();
            }
            if (p != null) {
                sentPages = p.pagesSentSoFar();
                roundBytes = p.roundPages() * Wire.PAGE;
                remaining = p.roundRemaining() * Wire.PAGE;
            }
        }
        double rate = bandwidth;
        long expected = rounds == 0 || rate <= 0 ? 0
                : (long) Math.ceil(Convergence.expectedMillis(dirtyPages * Wire.PAGE + diskDirtyBytes, rate));
        PostcopySender pc = postcopy;
        return new MigrationReport(now, to.toString(), phase, (end - startNanos) / 1_000_000,
                downtimeNanos / 1_000_000, pauseNanos / 1_000_000, finalSendNanos / 1_000_000,
                destinationNanos / 1_000_000, convergence.maxDowntimeMillis(), sentBytes, rounds, sentPages, dirtyPages,
                finalPages, throttle, rate / 1048576.0, roundBytes, remaining, expected, disk, diskDirtyBytes,
                pc == null ? 0L : (long) pc.missing(), pc == null ? 0L : (long) pc.sent(), postcopyNanos / 1_000_000, error);
    }

    /**
     * Asks the migration to stop; the VM keeps running here. Returns false when it is too late
     * (DONE already sent, or finished). A migration blocked on a stalled destination is woken by
     * closing its connection.
     */
    public boolean cancel() {
        synchronized (lock) {
            if (doneSent || status.finished()) {
                return false;
            }
            cancelled = true;
        }
        Thread.ofVirtual().start(() -> {
            try {
                if (!awaitEnd(Duration.ofSeconds(2)) && !doneSent) {
                    closeQuietly(socket);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        return true;
    }

    /** Waits until the migration has finished one way or another. */
    public boolean awaitEnd(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (lock) {
            while (!status.finished()) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                lock.wait(Math.max(1, left / 1_000_000));
            }
            return true;
        }
    }

    /** Starts {@link #run()} on a new platform thread. */
    public OutgoingMigration start() {
        Thread.ofPlatform().name("migrate-out").daemon(true).start(this::run);
        return this;
    }

    /** Runs the whole migration on the calling thread; the outcome is in {@link #status()}. */
    public void run() {
        startNanos = System.nanoTime();
        Machine m = source.machine();
        DirtyTracker tracker = null;
        boolean paused = false;
        RecordWriter out = null;
        MigrationReport.Status outcome;
        String why = null;
        List<LoggedDisk> disks = List.of();
        DiskSender diskOut = null;
        try {
            VmShape shape = source.shape(); // before connecting: a failure here is ours, not the destination's
            m.memory().awaitPresent(); // a VM restored lazily: the page loop reads RAM from Java code
            disks = source.startCopying(copyDrives);
            checkAgainstShape(disks, shape);
            socket = tls.open(to, (int) Math.min(Integer.MAX_VALUE, stallTimeout.toMillis()));
            checkCancel();
            out = new RecordWriter(socket.tls().getOutputStream());
            writer = out;
            RecordReader in = new RecordReader(socket.tls().getInputStream());
            Thread.ofVirtual().name("migrate-watchdog").start(this::watchdog);
            MigrationRecord answer;
            try {
                // The oldest version that says what this migration needs: older destinations take it.
                out.header(convergence.postcopy() ? Wire.POSTCOPY_VERSION : disks.isEmpty() ? Wire.OLDEST_VERSION : Wire.DISKS_VERSION);
                out.config(MachineConfig.of(m.options()), shape, disks.stream().map(LoggedDisk::index).toList(),
                        convergence.postcopy());
                out.flush();
                answer = in.read(REPLIES);
            } catch (IOException | MigrationException e) {
                checkCancel();
                // TLS 1.3: the server checks our certificate after our side of the handshake
                // completed, so its refusal shows up here as a closed connection.
                throw new MigrationException("the destination closed the connection before accepting the"
                        + " configuration (does it trust this source's certificate?): " + message(e), e);
            }
            switch (answer) {
                case MigrationRecord.Ready r -> { }
                case MigrationRecord.Refused r -> throw new MigrationException("destination refused: " + r.reason());
                case MigrationRecord.Failed r -> throw new MigrationException("destination failed: " + r.reason());
                case MigrationRecord r -> throw new MigrationException("destination answered CONFIG with " + r);
            }
            PageSender pages = new PageSender(m.memory(), out, () -> cancelled);
            sender = pages;
            diskOut = new DiskSender(out, () -> cancelled);
            diskSender = diskOut;
            if (!disks.isEmpty()) {
                // The bulk copy: every chunk, while the guest runs. What it writes meanwhile is
                // in the logs, sent in the rounds below (QEMU's drive-mirror, in jkvm's stream).
                phase = "copying disks";
                for (LoggedDisk d : disks) {
                    d.writes().collect(); // marks from before the copy: the copy covers them
                    diskOut.sendAll(d);
                }
            }
            // Dirty logging from here, not before the bulk copy: round 0 reads all of RAM after
            // this, so pages the guest wrote during the copy need no second sending.
            tracker = new DirtyTracker(m);
            tracker.start();
            // Bandwidth from here: the bulk copy's zero runs put few bytes on the wire for the
            // time they take to read, and would make the link look slower than it is.
            long t = System.nanoTime();
            long b0 = out.bytes();
            phase = "precopy";
            long sent = pages.sendAll();
            out.round(0, sent);
            out.flush();
            measure(out, pages, b0, t);
            rounds = 1;
            long previous = -1;
            boolean switchToPostcopy = false;
            while (true) {
                checkCancel();
                long[] dirty = tracker.collect();
                io.jkvm.storage.DirtyChunks.Batch[] chunks = new io.jkvm.storage.DirtyChunks.Batch[disks.size()];
                long diskDirty = 0;
                for (int i = 0; i < chunks.length; i++) {
                    chunks[i] = disks.get(i).writes().collect();
                    diskDirty += chunks[i].count() * disks.get(i).writes().chunkSize();
                }
                dirtyPages = dirty.length;
                diskDirtyBytes = diskDirty;
                long dirtyBytes = (long) dirty.length * Wire.PAGE + diskDirty;
                // Disk writes count as page-sized units of dirtying: the throttle slows both.
                long dirtyUnits = dirtyBytes / Wire.PAGE;
                Convergence.Next next = convergence.after(rounds - 1, previous < 0 ? -1 : previous * Wire.PAGE, dirtyBytes,
                        bandwidth);
                if (next != Convergence.Next.ANOTHER_ROUND) {
                    // Not sent now: these go with the final set, collected again after the pause.
                    tracker.requeue(dirty);
                    for (int i = 0; i < chunks.length; i++) {
                        disks.get(i).writes().requeue(chunks[i]);
                    }
                    switchToPostcopy = next == Convergence.Next.POSTCOPY;
                    break;
                }
                throttle = Convergence.nextThrottle(previous, dirtyUnits, throttle);
                m.setThrottle(throttle);
                previous = dirtyUnits;
                for (int i = 0; i < chunks.length; i++) {
                    diskOut.send(disks.get(i), chunks[i]);
                }
                out.round(rounds, pages.send(dirty));
                out.flush();
                measure(out, pages, b0, t);
                rounds++;
            }
            checkCancel();
            phase = "pausing";
            long pauseStart = System.nanoTime();
            source.pause();
            paused = true;
            long paused0 = System.nanoTime();
            pauseNanos = paused0 - pauseStart;
            m.setThrottle(0); // the report keeps the last throttle pre-copy needed
            // Device states first: draining in-flight requests may write guest RAM, and those
            // pages must be in the final set collected below.
            phase = "capturing device state";
            List<DeviceState> devices = source.deviceStates();
            out.markProgress(); // the stall clock measures the destination, not our disk flush
            phase = "stop-and-copy";
            for (LoggedDisk d : disks) { // what the guest wrote up to the pause, drained and flushed above
                diskOut.send(d, d.writes().collect());
            }
            long[] last = tracker.collectFinal();
            finalPages = last.length;
            PostcopySender pc = null;
            if (switchToPostcopy) {
                // The pages still dirty stay here: the destination fetches their chunks once it runs.
                phase = "switching to post-copy";
                pc = PostcopySender.of(m.memory(), last, out);
                pc.announce();
                postcopy = pc;
            } else {
                pages.send(last);
            }
            byte[] kvm = KvmSection.capture(m);
            out.kvmState(kvm);
            for (DeviceState d : devices) {
                out.device(d);
            }
            synchronized (lock) { // against cancel(): once it succeeded no DONE goes out, once DONE goes out it fails
                checkCancel();
                doneSent = true;
            }
            out.empty(Wire.DONE);
            out.flush();
            long doneAt = System.nanoTime();
            finalSendNanos = doneAt - paused0;
            bytes = out.bytes();
            pagesSent = pages.pagesSent();
            phase = "awaiting destination";
            if (pc == null) {
                switch (in.read(REPLIES)) {
                    case MigrationRecord.Resumed r -> { }
                    case MigrationRecord.Failed r -> {
                        doneSent = false; // it said so: the VM does not run there
                        throw new MigrationException("destination failed: " + r.reason());
                    }
                    case MigrationRecord r -> throw new MigrationException("destination answered DONE with " + r);
                }
                long resumedAt = System.nanoTime();
                destinationNanos = resumedAt - doneAt;
                downtimeNanos = resumedAt - pauseStart;
            } else {
                servePostcopy(in, pc, doneAt, pauseStart);
            }
            phase = "completed";
            tracker.close();
            tracker = null;
            outcome = MigrationReport.Status.COMPLETED;
        } catch (MigrationCancelledException e) {
            outcome = MigrationReport.Status.CANCELLED;
            why = "cancelled";
            abort(out, "cancelled by the source");
        } catch (Exception | Error e) {
            outcome = cancelled && !doneSent ? MigrationReport.Status.CANCELLED : MigrationReport.Status.FAILED;
            why = cancelled && !doneSent ? "cancelled (" + message(e) + ")" : message(e);
            if (stalled) {
                why = "the destination accepted no data for " + stallTimeout.toMillis() + " ms (" + why + ")";
            }
            if (runningThere) {
                PostcopySender pc = postcopy;
                why = pc.sent() < pc.missing()
                        ? "post-copy broke after the VM started at the destination, with " + (pc.missing() - pc.sent()) + " of "
                                + pc.missing() + " chunks of its RAM still here: the guest cannot go on at either end (" + why + ")"
                        : "post-copy broke after the VM started at the destination and every chunk of its RAM was sent, before"
                                + " it confirmed them: the VM may run there, check it; it stays stopped here (" + why + ")";
            } else if (doneSent) {
                why += " (after DONE was sent: check that the destination did not start the VM too)";
            }
            LOG.warn("migration to {} failed: {}", to, why);
            if (!doneSent) {
                abort(out, why);
            }
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
        } finally {
            closeQuietly(socket);
            stopCopying(); // also after a startCopying that failed half way
            if (diskOut != null) {
                diskBytes = diskOut.bytesCopied();
                diskOut.close();
            }
            if (out != null) {
                bytes = out.bytes();
            }
            if (sender != null) {
                pagesSent = sender.pagesSent();
            }
        }
        boolean lost = runningThere && outcome != MigrationReport.Status.COMPLETED;
        if (lost) {
            closeTracker(tracker);
            m.setThrottle(0);
            phase = "lost";
        } else if (outcome != MigrationReport.Status.COMPLETED) {
            rollBack(m, tracker, paused);
            phase = "rolled back";
        }
        finish(outcome, why);
        if (lost) {
            // After the report (as a completed migration does): the VMM, once its VM has stopped,
            // waits for a client to read it, so whoever asked learns why.
            try {
                source.lost(why);
            } catch (RuntimeException e) {
                LOG.error("could not stop the VM after post-copy broke: {}", e.toString());
            }
        }
        if (outcome == MigrationReport.Status.COMPLETED) {
            // After the report says so: the VMM, once its VM has stopped, waits for a client to
            // read a finished report, and the guest runs at the destination now whatever happens here.
            try {
                source.migratedAway();
            } catch (RuntimeException e) {
                LOG.error("the VM migrated to {} but did not stop here: {}", to, e.toString());
            }
        }
    }

    /**
     * Each copied disk is a writable disk of the shape CONFIG announces, of the size announced
     * there (a drive swapped in between would be refused by the destination only after data
     * went out): refused here, before connecting.
     */
    private static void checkAgainstShape(List<LoggedDisk> disks, VmShape shape) {
        for (LoggedDisk d : disks) {
            if (shape == null || d.index() >= shape.disks().size()) {
                throw new MigrationException("copy_drives: disk " + d.id() + " (index " + d.index()
                        + ") is not one of the disks announced to the destination");
            }
            VmShape.Disk announced = shape.disks().get(d.index());
            long announcedSize = announced.sizeBytes() / Wire.SECTOR * Wire.SECTOR;
            if (announced.readOnly() || announcedSize != d.size()) {
                throw new MigrationException("copy_drives: disk " + d.id() + " (" + d.size() + " bytes) is not the writable "
                        + announcedSize + "-byte disk announced at its index");
            }
        }
    }

    private void stopCopying() {
        try {
            source.stopCopying();
        } catch (RuntimeException e) {
            LOG.warn("could not stop logging disk writes: {}", e.toString());
        }
    }

    /** Closes the connection when the destination stops taking data, which fails a blocked write. */
    private void watchdog() {
        try {
            long tick = Math.max(10, Math.min(1000, stallTimeout.toMillis() / 4));
            while (!status.finished()) {
                synchronized (lock) {
                    lock.wait(tick); // woken early when the migration finishes
                }
                RecordWriter w = writer;
                // Post-copy's phases too: a destination that asks for chunks and stops reading them
                // would otherwise hold the paused VM here forever (each record it sends counts as
                // progress, see servePostcopy).
                String p = phase;
                boolean writing = p.equals("precopy") || p.equals("stop-and-copy") || p.equals("copying disks")
                        || p.equals("switching to post-copy") || p.equals("postcopy")
                        || (p.equals("awaiting destination") && postcopy != null);
                if (w != null && writing && !status.finished()
                        && System.nanoTime() - w.lastProgressNanos() > stallTimeout.toNanos()) {
                    stalled = true;
                    closeQuietly(socket);
                    return;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * After DONE in post-copy: answers the destination's REQUESTs (which may come before its
     * RESUMED: restoring devices can touch RAM) until it reports every chunk arrived (FILLED).
     * A FAILED before RESUMED means the VM never ran there: rolled back here as before.
     */
    private void servePostcopy(RecordReader in, PostcopySender pc, long doneAt, long pauseStart) throws IOException {
        long resumedAt = 0;
        boolean filled = false; // may come first: a few chunks are fetched before the VM starts there
        while (!runningThere || !filled) {
            if (!runningThere && System.nanoTime() - doneAt > stallTimeout.toNanos()) {
                // Asking for chunk after chunk, never starting: the VM here must not stay paused for ever.
                throw new MigrationException("the destination did not start the VM within " + stallTimeout.toMillis()
                        + " ms of DONE (" + pc.sent() + " chunks sent meanwhile)");
            }
            MigrationRecord r = in.read(REPLIES);
            writer.markProgress(); // the destination is there: the watchdog times our writes from here
            if (r instanceof MigrationRecord.Request q && !filled) {
                pc.send(q.index());
            } else if (r instanceof MigrationRecord.Resumed && !runningThere) {
                resumedAt = System.nanoTime();
                destinationNanos = resumedAt - doneAt;
                downtimeNanos = resumedAt - pauseStart;
                runningThere = true;
                phase = "postcopy";
            } else if (r instanceof MigrationRecord.Filled && !filled && pc.sent() == pc.missing()) {
                filled = true;
            } else if (r instanceof MigrationRecord.Failed f) {
                doneSent = runningThere; // before RESUMED it said so: the VM does not run there
                throw new MigrationException("destination failed: " + f.reason());
            } else {
                throw new MigrationException("destination sent " + r + " during post-copy (" + pc.sent() + " of "
                        + pc.missing() + " chunks sent" + (runningThere ? "" : ", before RESUMED") + ")");
            }
        }
        postcopyNanos = System.nanoTime() - resumedAt;
    }

    private static void closeTracker(DirtyTracker tracker) {
        try {
            if (tracker != null) {
                tracker.close();
            }
        } catch (RuntimeException e) {
            LOG.warn("could not turn dirty logging off: {}", e.toString());
        }
    }

    private void rollBack(Machine m, DirtyTracker tracker, boolean paused) {
        closeTracker(tracker);
        m.setThrottle(0);
        throttle = 0;
        if (paused) {
            source.resume();
        }
    }

    private void finish(MigrationReport.Status outcome, String why) {
        synchronized (lock) {
            endNanos = System.nanoTime();
            error = why;
            status = outcome;
            lock.notifyAll();
        }
    }

    /**
     * Bandwidth as the average since pre-copy began. A single round's rate is what the socket
     * buffers absorbed, not what the destination took: a few MiB "sent" in microseconds would
     * promise a stop-and-copy far shorter than it is. The running average includes those buffers
     * only once and converges on the real rate.
     */
    private void measure(RecordWriter out, PageSender pages, long bytesAtStart, long startNanos) {
        long ns = Math.max(1, System.nanoTime() - startNanos);
        bandwidth = (out.bytes() - bytesAtStart) * 1e9 / ns;
        bytes = out.bytes();
        pagesSent = pages.pagesSent();
    }

    private void checkCancel() {
        if (cancelled) {
            throw new MigrationCancelledException();
        }
    }

    private static void abort(RecordWriter out, String reason) {
        if (out == null) {
            return;
        }
        try {
            out.reason(Wire.ABORT, reason);
            out.flush();
        } catch (IOException | RuntimeException e) {
            // The connection is what failed: nothing more to tell the destination.
        }
    }

    private static String message(Throwable e) {
        if (e instanceof MigrationException) {
            return e.getMessage();
        }
        String m = e.getMessage();
        return e.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }

    private static void closeQuietly(MigrationTls.Connection s) {
        if (s != null) {
            try {
                s.close();
            } catch (IOException e) {
                // closing after a failure: nothing to do
            }
        }
    }
}
