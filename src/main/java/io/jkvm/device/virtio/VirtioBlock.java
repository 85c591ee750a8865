package io.jkvm.device.virtio;

import io.jkvm.resources.NanoClock;
import io.jkvm.resources.RateLimitConfig;
import io.jkvm.resources.Throttle;
import io.jkvm.snapshot.DeviceMismatchException;
import io.jkvm.snapshot.RecordCodec;
import io.jkvm.storage.DiskConfig;
import io.jkvm.storage.DiskImage;
import io.jkvm.storage.DiskImages;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * virtio-blk over a {@link DiskImage} (raw or qcow2; virtio 1.2 §5.2), one request queue.
 *
 * <p><b>Features</b>: SEG_MAX, BLK_SIZE (512), FLUSH, and, when writable, DISCARD and
 * WRITE_ZEROES; RO when read-only. Capacity is the image size in 512-byte sectors (rounded
 * down).
 *
 * <p><b>Requests</b> (§5.2.6): a 16-byte readable header {@code {le32 type, le32 reserved, le64
 * sector}}, data, and a status byte in the last writable byte. Data moves directly between the
 * image and guest memory (pread/pwrite on guest-memory slices; no copies). Errors:
 * <ul>
 *   <li>no writable byte for the status: nothing can be reported, the chain is returned with
 *       length 0 and no I/O is done;
 *   <li>header shorter than 16 bytes, data not a whole number of sectors, any part of the
 *       range past the capacity (sector arithmetic is overflow-safe), a write/discard/
 *       write-zeroes on a read-only disk, a host I/O error: status IOERR;
 *   <li>unknown request types, discard with the unmap flag or reserved flags set: UNSUPP.
 * </ul>
 * FLUSH is fsync(2) of the image: data acknowledged before a completed flush survives the VMM
 * being killed. GET_ID returns the disk's id (up to 20 bytes, zero padded, §5.2.6.1).
 *
 * <p><b>Rate limiting</b> (Firecracker's drive {@code rate_limiter}, a {@link Throttle}): every
 * request costs one op; reads and writes also cost their data bytes (the guest's buffer length:
 * the writable part less the status byte for IN, the readable part less the header for OUT;
 * flush, GET_ID, discard and write-zeroes move no guest data and cost ops only). A request the
 * limiter refuses stays on the available ring ({@link VirtioContext#drain(int,
 * VirtioContext.ChainGate, VirtioContext.ChainHandler)}) and the queue is served again by a
 * timer when the limiter says the tokens are there ({@link VirtioContext#kickAfter}): nothing
 * waits on the I/O thread and nothing polls. {@link #updateRateLimiter} changes the limits from
 * any thread and takes effect at once.
 */
public final class VirtioBlock implements VirtioDevice {
    private static final Logger LOG = LoggerFactory.getLogger(VirtioBlock.class);

    public static final int DEVICE_TYPE = 2;
    public static final int QUEUE_SIZE = 256;
    public static final int SECTOR = 512;
    public static final int ID_BYTES = 20;

    // Feature bits (§5.2.3).
    public static final int F_SEG_MAX = 2;
    public static final int F_RO = 5;
    public static final int F_BLK_SIZE = 6;
    public static final int F_FLUSH = 9;
    public static final int F_DISCARD = 13;
    public static final int F_WRITE_ZEROES = 14;

    // Request types and status values (§5.2.6).
    public static final int T_IN = 0;
    public static final int T_OUT = 1;
    public static final int T_FLUSH = 4;
    public static final int T_GET_ID = 8;
    public static final int T_DISCARD = 11;
    public static final int T_WRITE_ZEROES = 13;
    public static final byte S_OK = 0;
    public static final byte S_IOERR = 1;
    public static final byte S_UNSUPP = 2;

    static final int HEADER = 16;
    static final int SEGMENT = 16;
    static final int CONFIG_SIZE = 60;
    /** Limits advertised for discard / write zeroes (in sectors and segments per request). */
    static final int MAX_DISCARD_SECTORS = 0x3f_ffff;
    static final int MAX_DISCARD_SEGMENTS = 32;
    static final int DISCARD_ALIGNMENT_SECTORS = 8;

    /** Replaced only while the transport has this device's I/O stopped ({@link #replaceImage}). */
    private volatile DiskImage image;
    private final byte[] id;
    private volatile long capacity;
    private final Throttle throttle;
    private final IoStats stats;
    /**
     * The request header {@link #admit} read for the chain it admitted, which {@link #handle}
     * then serves: one fetch from guest memory, so the type the rate limiter counted is the type
     * served (a guest rewriting the header in between cannot have a read counted as a flush).
     * I/O thread only.
     */
    private final byte[] admittedHeader = new byte[HEADER];
    private int admittedHeaderLength;
    private volatile VirtioContext context;
    /** Where writes are logged while a live migration copies this disk; null otherwise. */
    private volatile io.jkvm.storage.DirtyChunks writeLog;

    /** @param id the serial reported by GET_ID (ASCII, at most 20 bytes used) */
    public VirtioBlock(DiskImage image, String id) {
        this(image, id, Throttle.unlimited());
    }

    /** As above, rate-limited by {@code throttle} (which outlives the device: see {@link Throttle}). */
    public VirtioBlock(DiskImage image, String id, Throttle throttle) {
        this(image, id, throttle, new IoStats());
    }

    /** As above, counting what it serves in {@code stats} (which, like the throttle, outlive the device). */
    public VirtioBlock(DiskImage image, String id, Throttle throttle, IoStats stats) {
        this.throttle = java.util.Objects.requireNonNull(throttle, "throttle");
        this.stats = java.util.Objects.requireNonNull(stats, "stats");
        this.image = image;
        this.capacity = image.size() / SECTOR;
        this.id = new byte[ID_BYTES];
        if (id != null) {
            byte[] b = id.getBytes(StandardCharsets.US_ASCII);
            System.arraycopy(b, 0, this.id, 0, Math.min(b.length, ID_BYTES));
        }
    }

    /** Opens (and locks) the image described by {@code cfg}, limited as it says. */
    public static VirtioBlock open(DiskConfig cfg) throws IOException {
        return open(cfg, new Throttle(cfg.rateLimit(), NanoClock.SYSTEM));
    }

    /** Opens (and locks) the image described by {@code cfg}, limited by {@code throttle}. */
    public static VirtioBlock open(DiskConfig cfg, Throttle throttle) throws IOException {
        return open(cfg, throttle, new IoStats());
    }

    /** As above, counting what it serves in {@code stats}. */
    public static VirtioBlock open(DiskConfig cfg, Throttle throttle, IoStats stats) throws IOException {
        return new VirtioBlock(DiskImages.open(cfg), cfg.id(), throttle, stats);
    }

    /**
     * Replaces the rate limits, from any thread: a bucket whose configuration changes starts full
     * (as Firecracker's update does), an unchanged one keeps its level; a queue waiting for tokens
     * is looked at again at once.
     */
    public void updateRateLimiter(RateLimitConfig config) {
        throttle.update(config);
    }

    public RateLimitConfig rateLimit() {
        return throttle.config();
    }

    /** How often, and for how long in all, requests have waited for the rate limiter. */
    public Throttle.Stats throttleStats() {
        return throttle.stats();
    }

    /**
     * From now on, every range a request writes, discards or zeroes is marked in {@code log}
     * after it reached the image (live migration with storage copies those chunks again);
     * null stops it. Marked even when the request failed half way: part of it may have landed.
     */
    public void logWrites(io.jkvm.storage.DirtyChunks log) {
        writeLog = log;
    }

    /** Whether a live migration is logging this disk's writes (and copying it). */
    public boolean logsWrites() {
        return writeLog != null;
    }

    private void logged(long offset, long length) {
        io.jkvm.storage.DirtyChunks log = writeLog;
        if (log != null) {
            log.mark(offset, length);
        }
    }

    /** The backing image (live migration hands its lock over). */
    public DiskImage image() {
        return image;
    }

    public long capacitySectors() {
        return capacity;
    }

    /**
     * Puts {@code next} behind the running disk (Firecracker's {@code PATCH /drives} with a new
     * {@code path_on_host}: a media change). The caller has stopped this device's I/O
     * ({@code VirtioPciDevice.suspendIo}), so no request straddles the two images. The capacity
     * may change, and the driver learns it through the configuration change notification
     * (virtio 1.2 §5.2.4 "capacity" may change; §4.1.4.3 config_generation, §4.1.4.5 ISR bit 1);
     * Linux's virtio_blk then re-reads the capacity. The features were negotiated with this
     * writability, so the new image must have the same. Returns the old image, still open.
     */
    public DiskImage replaceImage(DiskImage next) {
        if (writeLog != null) {
            throw new IllegalStateException("a live migration is copying this drive's contents: it cannot be replaced now");
        }
        if (next.readOnly() != image.readOnly()) {
            throw new IllegalArgumentException("the new image is " + (next.readOnly() ? "read-only" : "writable")
                    + " and the drive " + (image.readOnly() ? "read-only" : "writable") + ": a drive keeps its writability");
        }
        DiskImage old = image;
        image = next;
        capacity = next.size() / SECTOR;
        VirtioContext c = context;
        if (c != null) {
            c.configChanged();
        }
        return old;
    }

    @Override
    public int deviceType() {
        return DEVICE_TYPE;
    }

    @Override
    public int pciClassCode() {
        return 0x01_80_00; // mass storage, other
    }

    @Override
    public int queueCount() {
        return 1;
    }

    @Override
    public int queueMaxSize(int index) {
        return QUEUE_SIZE;
    }

    @Override
    public long deviceFeatures() {
        long f = VirtioFeatures.bit(F_SEG_MAX) | VirtioFeatures.bit(F_BLK_SIZE) | VirtioFeatures.bit(F_FLUSH);
        if (image.readOnly()) {
            f |= VirtioFeatures.bit(F_RO);
        } else {
            f |= VirtioFeatures.bit(F_DISCARD) | VirtioFeatures.bit(F_WRITE_ZEROES);
        }
        return f;
    }

    @Override
    public int configSize() {
        return CONFIG_SIZE;
    }

    @Override
    public void readConfig(int offset, byte[] dst) {
        ByteBuffer b = ByteBuffer.allocate(CONFIG_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(0, capacity);
        b.putInt(12, QUEUE_SIZE - 2); // seg_max: header and status take two descriptors
        b.putInt(20, SECTOR); // blk_size
        b.putShort(34, (short) 1); // num_queues (only meaningful with MQ)
        if (!image.readOnly()) {
            b.putInt(36, MAX_DISCARD_SECTORS);
            b.putInt(40, MAX_DISCARD_SEGMENTS);
            b.putInt(44, DISCARD_ALIGNMENT_SECTORS);
            b.putInt(48, MAX_DISCARD_SECTORS);
            b.putInt(52, MAX_DISCARD_SEGMENTS);
            b.put(56, (byte) 1); // write_zeroes_may_unmap
        }
        b.get(offset, dst);
    }

    @Override
    public void activate(VirtioContext ctx) {
        this.context = ctx;
        throttle.setWaker(() -> ctx.kick(0)); // kick() is safe from any thread, even after a reset
    }

    @Override
    public void queueNotified(int index) throws VirtqueueException {
        context.drain(index, this::admit, c -> serve(c, admittedHeader, admittedHeaderLength));
    }

    /** The rate limiter's say on one request; a refusal arms the queue's timer for when it will be granted. */
    private boolean admit(DescriptorChain c) {
        admittedHeaderLength = c.read(0, admittedHeader, 0, HEADER);
        long wait = throttle.acquire(dataBytes(c, admittedHeader, admittedHeaderLength), 1);
        if (wait > 0) {
            context.kickAfter(0, wait);
            return false;
        }
        return true;
    }

    /** The guest data a request moves, as the bandwidth bucket counts it (see the class comment). */
    private static long dataBytes(DescriptorChain c, byte[] header, int headerLength) {
        if (headerLength < HEADER) {
            return 0; // malformed: answered with IOERR, moves nothing
        }
        return switch (ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN).getInt(0)) {
            case T_IN -> Math.max(0, c.writableLength() - 1);
            case T_OUT -> Math.max(0, c.readableLength() - HEADER);
            default -> 0;
        };
    }

    @Override
    public void reset() {
        throttle.setWaker(null);
        context = null;
    }

    /** Serves one request; returns the used length. Never throws for guest input. */
    int handle(DescriptorChain c) {
        byte[] hdr = new byte[HEADER];
        return serve(c, hdr, c.read(0, hdr, 0, HEADER));
    }

    /** Serves one request whose header (its first {@code headerLength} bytes) was read into {@code hdr}. */
    private int serve(DescriptorChain c, byte[] hdr, int headerLength) {
        if (c.writableLength() < 1) {
            LOG.debug("virtio-blk: request without a status byte dropped");
            return 0;
        }
        int statusAt = c.writableLength() - 1;
        if (headerLength < HEADER) {
            stats.invalid();
            return finish(c, statusAt, S_IOERR, 0);
        }
        ByteBuffer h = ByteBuffer.wrap(hdr).order(ByteOrder.LITTLE_ENDIAN);
        int type = h.getInt(0);
        long sector = h.getLong(8);
        try {
            return switch (type) {
                case T_IN -> read(c, sector, statusAt);
                case T_OUT -> write(c, sector, statusAt);
                case T_FLUSH -> {
                    image.flush();
                    stats.flush();
                    yield finish(c, statusAt, S_OK, 0);
                }
                case T_GET_ID -> {
                    int n = c.write(0, id, 0, Math.min(ID_BYTES, statusAt));
                    yield finish(c, statusAt, S_OK, n);
                }
                case T_DISCARD, T_WRITE_ZEROES -> discardOrZero(c, type, statusAt);
                default -> {
                    stats.invalid();
                    yield finish(c, statusAt, S_UNSUPP, 0);
                }
            };
        } catch (IOException e) {
            LOG.warn("virtio-blk: I/O error on {}: {}", image.path(), e.getMessage());
            return finish(c, statusAt, S_IOERR, 0);
        }
    }

    private int read(DescriptorChain c, long sector, int statusAt) throws IOException {
        long len = statusAt;
        if (!inRange(sector, len)) {
            stats.invalid();
            return finish(c, statusAt, S_IOERR, 0);
        }
        long pos = sector * SECTOR;
        for (MemorySegment s : c.writableSlices(0, len)) {
            image.read(pos, s);
            pos += s.byteSize();
        }
        stats.in(len);
        return finish(c, statusAt, S_OK, (int) len);
    }

    private int write(DescriptorChain c, long sector, int statusAt) throws IOException {
        long len = c.readableLength() - HEADER;
        if (image.readOnly() || !inRange(sector, len)) {
            stats.invalid();
            return finish(c, statusAt, S_IOERR, 0);
        }
        long pos = sector * SECTOR;
        try {
            for (MemorySegment s : c.readableSlices(HEADER, len)) {
                image.write(pos, s);
                pos += s.byteSize();
            }
        } finally {
            logged(sector * SECTOR, len);
        }
        stats.out(len);
        return finish(c, statusAt, S_OK, 0);
    }

    /** §5.2.6.2: segments of {le64 sector, le32 num_sectors, le32 flags (bit 0 unmap)}. */
    private int discardOrZero(DescriptorChain c, int type, int statusAt) throws IOException {
        if (image.readOnly()) {
            return finish(c, statusAt, S_IOERR, 0);
        }
        int bytes = c.readableLength() - HEADER;
        if (bytes <= 0 || bytes % SEGMENT != 0 || bytes / SEGMENT > MAX_DISCARD_SEGMENTS) {
            return finish(c, statusAt, S_UNSUPP, 0);
        }
        byte[] raw = new byte[bytes];
        c.read(HEADER, raw, 0, bytes);
        ByteBuffer segs = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        // Validate every segment before touching the image, so a bad one changes nothing.
        for (int i = 0; i < bytes; i += SEGMENT) {
            long sector = segs.getLong(i);
            long count = segs.getInt(i + 8) & 0xffff_ffffL;
            int flags = segs.getInt(i + 12);
            boolean unmap = (flags & 1) != 0;
            if ((flags & ~1) != 0 || (type == T_DISCARD && unmap) || count > MAX_DISCARD_SECTORS) {
                return finish(c, statusAt, S_UNSUPP, 0);
            }
            if (!inRange(sector, count * SECTOR)) {
                return finish(c, statusAt, S_IOERR, 0);
            }
        }
        for (int i = 0; i < bytes; i += SEGMENT) {
            long off = segs.getLong(i) * SECTOR;
            long len = (segs.getInt(i + 8) & 0xffff_ffffL) * SECTOR;
            try {
                if (type == T_DISCARD) {
                    image.discard(off, len);
                } else {
                    image.writeZeroes(off, len, (segs.getInt(i + 12) & 1) != 0);
                }
            } finally {
                logged(off, len);
            }
        }
        return finish(c, statusAt, S_OK, 0);
    }

    /** Whether {@code len} bytes at {@code sector} are whole sectors inside the disk (no overflow). */
    private boolean inRange(long sector, long len) {
        if (len < 0 || len % SECTOR != 0 || sector < 0 || sector > capacity) {
            return false;
        }
        return len / SECTOR <= capacity - sector;
    }

    private static int finish(DescriptorChain c, int statusAt, byte status, int dataWritten) {
        c.write(statusAt, new byte[] {status}, 0, 1);
        return dataWritten + 1;
    }

    /** Acknowledged writes reach the disk before a snapshot is taken. */
    @Override
    public void quiesce() throws IOException {
        if (!image.readOnly()) {
            image.flush();
        }
    }

    /**
     * The disk's geometry as the guest saw it: a restore refuses another size or writability
     * (the image itself is the host resource, re-opened from the configuration).
     */
    public record State(long capacitySectors, boolean readOnly) {
        /** i64 capacity in sectors, u8 read-only. */
        public static final RecordCodec<State> CODEC = RecordCodec.of("virtio-blk", State.class,
                (s, w) -> w.i64(s.capacitySectors).bool(s.readOnly),
                r -> new State(r.i64("capacity"), r.bool("read-only")));

        public State {
            if (capacitySectors < 0 || capacitySectors > Long.MAX_VALUE / SECTOR) {
                throw new IllegalArgumentException("capacity " + capacitySectors + " sectors out of range");
            }
        }
    }

    @Override
    public State save() {
        return new State(capacity, image.readOnly());
    }

    /** The disk of {@code cfg}, opened and checked against a saved {@link State}. */
    public static VirtioBlock restore(DiskConfig cfg, State s) throws IOException {
        return restore(cfg, new Throttle(cfg.rateLimit(), NanoClock.SYSTEM), s);
    }

    /**
     * As above, limited by {@code throttle}. The limits are configuration (from {@code cfg}), not
     * state: the buckets of a restored disk start full.
     */
    public static VirtioBlock restore(DiskConfig cfg, Throttle throttle, State s) throws IOException {
        return restore(cfg, throttle, new IoStats(), s);
    }

    /** As above, counting what it serves in {@code stats}. */
    public static VirtioBlock restore(DiskConfig cfg, Throttle throttle, IoStats stats, State s) throws IOException {
        VirtioBlock b = open(cfg, throttle, stats);
        try {
            b.check(s);
        } catch (RuntimeException e) {
            b.close();
            throw e;
        }
        return b;
    }

    @Override
    public void restoreState(Record state, boolean active) {
        check(VirtioDevice.stateOf(state, State.class, "disk " + image.path()));
    }

    private void check(State s) {
        if (s.capacitySectors() != capacity) {
            throw new DeviceMismatchException("disk " + image.path(), "has " + capacity + " sectors, the snapshot's had "
                    + s.capacitySectors());
        }
        if (s.readOnly() != image.readOnly()) {
            throw new DeviceMismatchException("disk " + image.path(), "is " + (image.readOnly() ? "read-only" : "writable")
                    + ", the snapshot's was " + (s.readOnly() ? "read-only" : "writable"));
        }
    }

    @Override
    public void close() {
        throttle.setWaker(null);
        image.close();
    }
}
