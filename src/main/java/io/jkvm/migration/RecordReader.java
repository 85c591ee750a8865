package io.jkvm.migration;

import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.KvmSection;
import io.jkvm.snapshot.MachineConfig;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Reads {@link Wire} records from an untrusted peer. Every length is checked against the limit
 * of its record type (and, given {@link Limits}, against what the receiver can take at this
 * point of the stream) before anything is allocated; a payload is then read in chunks of at most
 * {@link #CHUNK} bytes, so memory follows the bytes that actually arrived, not the length the
 * peer announced. PAGES, the exception, is read straight into its record once its count is checked
 * against the announced length: at most {@link Wire#MAX_BATCH} pages. The payload must be consumed exactly by its fields, and every problem is a
 * {@link MigrationException} naming the record and field. Record order and guest addresses are
 * checked by {@link IncomingStream}, which knows the configuration.
 */
final class RecordReader {
    /** Payload bytes read (and allocated) at a time. */
    static final int CHUNK = 256 << 10;

    /** A receiver's own bound on the next record of a type (at most the wire's), with why. */
    interface Limits {
        Limit next(int type);
    }

    /** {@code note} explains a limit tighter than the wire's (or is null). */
    record Limit(long bytes, String note) {}

    private final DataInputStream in;
    private long bytes;
    /** The stream's version, from its header (replies carry none: the newest). */
    private int version = Wire.VERSION;

    RecordReader(InputStream in) {
        this.in = new DataInputStream(in);
    }

    long bytes() {
        return bytes;
    }

    void header() throws IOException {
        byte[] magic = new byte[Wire.MAGIC.length];
        try {
            in.readFully(magic);
        } catch (EOFException e) {
            throw new MigrationException("stream header: ended after fewer than " + magic.length + " bytes");
        }
        if (!Arrays.equals(magic, Wire.MAGIC)) {
            throw new MigrationException("stream header: magic is not JKVMMIGR (not a jkvm migration stream)");
        }
        int version;
        try {
            version = in.readInt();
        } catch (EOFException e) {
            throw new MigrationException("stream header: ended before the version");
        }
        if (version < Wire.OLDEST_VERSION || version > Wire.VERSION) {
            throw new MigrationException("stream header: version " + Integer.toUnsignedString(version)
                    + " is not supported (this jkvm speaks versions " + Wire.OLDEST_VERSION + " to " + Wire.VERSION + ")");
        }
        this.version = version;
        bytes += magic.length + 4;
    }

    static long maxLength(int type) {
        return switch (type) {
            case Wire.CONFIG -> 15 + VmShape.MAX_BYTES + 1 + VmShape.MAX_DEVICES;
            case Wire.BLOCKS -> 9 + Wire.MAX_BLOCK_BYTES;
            case Wire.ZERO_BLOCKS -> 17;
            case Wire.PAGES -> 4L + (long) Wire.MAX_BATCH * (8 + Wire.PAGE);
            case Wire.ZERO_PAGES -> 4L + 8L * Wire.MAX_ZERO_BATCH;
            case Wire.ROUND -> 12;
            case Wire.KVM_STATE -> KvmSection.MAX_BYTES;
            case Wire.DEVICE -> 2L + DeviceState.MAX_NAME + DeviceState.MAX_BYTES;
            case Wire.ABORT, Wire.REFUSED, Wire.FAILED -> Wire.MAX_REASON;
            // The wire's bound for the largest machine (64 TiB); a destination holds it to its own size.
            case Wire.POSTCOPY -> 4 + ((1L << 46) / Wire.POSTCOPY_CHUNK + 64) / 8;
            case Wire.CHUNK -> 4 + Wire.POSTCOPY_CHUNK;
            case Wire.REQUEST -> 4;
            case Wire.DONE, Wire.READY, Wire.RESUMED, Wire.FILLED -> 0;
            default -> -1;
        };
    }

    /** The next record; a clean end of stream between records is an error too (no DONE seen). */
    MigrationRecord read() throws IOException {
        return read(type -> new Limit(maxLength(type), null));
    }

    /** As {@link #read()}, with the receiver's own limits applied to the announced length. */
    MigrationRecord read(Limits limits) throws IOException {
        int type = in.read();
        if (type < 0) {
            throw new MigrationException("stream ended before DONE (the peer closed the connection)");
        }
        String name = Wire.name(type);
        long max = maxLength(type);
        if (max < 0) {
            throw new MigrationException(String.format("unknown record type 0x%02x", type));
        }
        int length;
        try {
            length = in.readInt();
        } catch (EOFException e) {
            throw new MigrationException(name + " record: stream ended inside the record header");
        }
        if (length < 0 || length > max) {
            throw new MigrationException(name + " record: length " + Integer.toUnsignedString(length)
                    + " is over the limit of " + max + " bytes");
        }
        Limit own = limits.next(type);
        if (length > own.bytes()) {
            throw new MigrationException(name + " record: length " + length + " is over the limit of " + own.bytes()
                    + " bytes" + (own.note() == null ? "" : " (" + own.note() + ")"));
        }
        if (type == Wire.PAGES) {
            MigrationRecord pages = pagesFromStream(length);
            bytes += 5L + length;
            return pages;
        }
        byte[] payload = payload(name, length);
        bytes += 5L + length;
        return decode(type, name, ByteBuffer.wrap(payload));
    }

    /**
     * Reads {@code length} bytes in chunks, so a peer that announces a big record and sends
     * little makes us allocate little.
     */
    private byte[] payload(String name, int length) throws IOException {
        if (length <= CHUNK) {
            byte[] b = new byte[length];
            readFully(name, length, b, 0, length);
            return b;
        }
        java.util.List<byte[]> chunks = new java.util.ArrayList<>();
        for (int done = 0; done < length; ) {
            byte[] c = new byte[Math.min(CHUNK, length - done)];
            readFully(name, length, c, 0, c.length);
            chunks.add(c);
            done += c.length;
        }
        byte[] b = new byte[length];
        int at = 0;
        for (byte[] c : chunks) {
            System.arraycopy(c, 0, b, at, c.length);
            at += c.length;
        }
        return b;
    }

    private void readFully(String name, int length, byte[] b, int off, int len) throws IOException {
        try {
            in.readFully(b, off, len);
        } catch (EOFException e) {
            throw new MigrationException(name + " record: stream ended inside the " + length + "-byte payload");
        }
    }

    private MigrationRecord decode(int type, String name, ByteBuffer b) {
        return switch (type) {
            case Wire.CONFIG -> config(b, version);
            case Wire.ZERO_PAGES -> zeroPages(b);
            case Wire.BLOCKS -> blocks(b);
            case Wire.ZERO_BLOCKS -> {
                exact(name, b, 17);
                int disk = Byte.toUnsignedInt(b.get());
                long offset = b.getLong();
                long length = b.getLong();
                sectors(name, offset, length);
                if (length == 0 || length > Wire.MAX_ZERO_BLOCK_BYTES) {
                    throw new MigrationException("ZERO_BLOCKS record: length " + length + " outside 512.."
                            + Wire.MAX_ZERO_BLOCK_BYTES);
                }
                yield new MigrationRecord.ZeroBlocks(disk, offset, length);
            }
            case Wire.ROUND -> {
                exact(name, b, 12);
                yield new MigrationRecord.Round(b.getInt(), b.getLong());
            }
            case Wire.KVM_STATE -> new MigrationRecord.KvmState(b.array());
            case Wire.DEVICE -> device(b);
            case Wire.POSTCOPY -> postcopy(b);
            case Wire.CHUNK -> {
                if (b.remaining() < 5) {
                    throw new MigrationException("CHUNK record: length " + b.remaining() + ", expected at least 5");
                }
                int index = index(name, b.getInt());
                byte[] data = new byte[b.remaining()];
                b.get(data);
                yield new MigrationRecord.Chunk(index, data);
            }
            case Wire.REQUEST -> {
                exact(name, b, 4);
                yield new MigrationRecord.Request(index(name, b.getInt()));
            }
            case Wire.FILLED -> new MigrationRecord.Filled();
            case Wire.DONE -> new MigrationRecord.Done();
            case Wire.READY -> new MigrationRecord.Ready();
            case Wire.RESUMED -> new MigrationRecord.Resumed();
            case Wire.ABORT -> new MigrationRecord.Abort(text(b));
            case Wire.REFUSED -> new MigrationRecord.Refused(text(b));
            case Wire.FAILED -> new MigrationRecord.Failed(text(b));
            default -> throw new MigrationException(String.format("unknown record type 0x%02x", type));
        };
    }

    private static void exact(String name, ByteBuffer b, long want) {
        if (b.remaining() != want) {
            throw new MigrationException(name + " record: length " + b.remaining() + ", expected " + want);
        }
    }

    private static MigrationRecord config(ByteBuffer b, int version) {
        if (b.remaining() < 15) {
            throw new MigrationException("CONFIG record: length " + b.remaining() + ", expected at least 15");
        }
        int cpus = b.getInt();
        long mem = b.getLong();
        int irqchip = b.get();
        if (irqchip != 0 && irqchip != 1) {
            throw new MigrationException("CONFIG record: irqchip flag is " + irqchip + ", must be 0 or 1");
        }
        int n = Short.toUnsignedInt(b.getShort());
        int copiedBytes = version < Wire.DISKS_VERSION ? 0 : 1;
        if (b.remaining() < n + copiedBytes) {
            throw new MigrationException("CONFIG record: " + b.remaining() + " bytes left for a " + n
                    + "-byte device shape and the copied disks");
        }
        MachineConfig machine;
        try {
            machine = new MachineConfig(cpus, mem, irqchip == 1);
        } catch (IllegalArgumentException e) {
            throw new MigrationException("CONFIG record: " + e.getMessage());
        }
        VmShape shape = n == 0 ? null : VmShape.decode(b.slice(b.position(), n));
        b.position(b.position() + n);
        int k = copiedBytes == 0 ? 0 : Byte.toUnsignedInt(b.get());
        int flagBytes = version < Wire.POSTCOPY_VERSION ? 0 : 1;
        exact("CONFIG", b, k + flagBytes);
        java.util.List<Integer> copied = new java.util.ArrayList<>();
        for (int i = 0; i < k; i++) {
            int d = Byte.toUnsignedInt(b.get());
            int disks = shape == null ? 0 : shape.disks().size();
            if (d >= disks) {
                throw new MigrationException("CONFIG record: copied disk " + d + " is not one of the " + disks
                        + " disk(s) of the device shape");
            }
            if (!copied.isEmpty() && d <= copied.getLast()) {
                throw new MigrationException("CONFIG record: copied disks are not in ascending order without repeats");
            }
            if (shape.disks().get(d).readOnly()) {
                throw new MigrationException("CONFIG record: copied disk " + d + " is read-only (only writable disks are copied)");
            }
            copied.add(d);
        }
        int flags = flagBytes == 0 ? 0 : Byte.toUnsignedInt(b.get());
        if ((flags & ~Wire.FLAG_POSTCOPY) != 0) {
            throw new MigrationException(String.format("CONFIG record: unknown flags 0x%02x", flags));
        }
        return new MigrationRecord.Config(machine, shape, copied, (flags & Wire.FLAG_POSTCOPY) != 0);
    }

    /** A chunk number: a u32 the wire holds below 2^31 (no machine has more chunks). */
    private static int index(String name, int index) {
        if (index < 0) {
            throw new MigrationException(name + " record: chunk " + Integer.toUnsignedString(index) + " is out of range");
        }
        return index;
    }

    /** POSTCOPY: the chunk count and exactly its bitmap, no bit set past the count. */
    private static MigrationRecord postcopy(ByteBuffer b) {
        if (b.remaining() < 4) {
            throw new MigrationException("POSTCOPY record: no chunk count");
        }
        int n = b.getInt();
        if (n < 1) {
            throw new MigrationException("POSTCOPY record: chunk count " + Integer.toUnsignedString(n) + " is out of range");
        }
        exact("POSTCOPY", b, (n + 7L) / 8);
        byte[] bits = new byte[b.remaining()];
        b.get(bits);
        java.util.BitSet missing = java.util.BitSet.valueOf(bits);
        if (missing.length() > n) {
            throw new MigrationException("POSTCOPY record: chunk " + (missing.length() - 1) + " is marked, but there are "
                    + n);
        }
        return new MigrationRecord.Postcopy(n, missing);
    }

    private static MigrationRecord blocks(ByteBuffer b) {
        if (b.remaining() < 9 + Wire.SECTOR) {
            throw new MigrationException("BLOCKS record: length " + b.remaining() + ", expected at least " + (9 + Wire.SECTOR));
        }
        int disk = Byte.toUnsignedInt(b.get());
        long offset = b.getLong();
        byte[] data = new byte[b.remaining()];
        sectors("BLOCKS", offset, data.length);
        b.get(data);
        return new MigrationRecord.Blocks(disk, offset, data);
    }

    /** A disk range must start and end on sector boundaries and not overflow. */
    private static void sectors(String name, long offset, long length) {
        if (offset < 0 || length < 0 || offset % Wire.SECTOR != 0 || length % Wire.SECTOR != 0
                || offset > Long.MAX_VALUE - length) {
            throw new MigrationException(name + " record: range [" + Long.toUnsignedString(offset) + ", +"
                    + Long.toUnsignedString(length) + ") is not whole " + Wire.SECTOR + "-byte sectors");
        }
    }

    private static int count(String name, ByteBuffer b, int max, int entry) {
        if (b.remaining() < 4) {
            throw new MigrationException(name + " record: no page count");
        }
        int n = b.getInt();
        if (n < 1 || n > max) {
            throw new MigrationException(name + " record: page count " + Integer.toUnsignedString(n) + " outside 1.." + max);
        }
        exact(name, b, (long) n * entry);
        return n;
    }

    /**
     * PAGES, the bulk of every stream, read straight into the record's own arrays: no payload
     * buffer to copy from (three allocations and two copies of each MiB less). The arrays are
     * allocated only once the count is known and the announced length confirms it, so they are
     * never more than the wire's {@link Wire#MAX_BATCH} pages.
     */
    private MigrationRecord pagesFromStream(int length) throws IOException {
        String name = "PAGES";
        if (length < 4) {
            throw new MigrationException(name + " record: no page count");
        }
        int n;
        try {
            n = in.readInt();
            if (n < 1 || n > Wire.MAX_BATCH) {
                throw new MigrationException(name + " record: page count " + Integer.toUnsignedString(n)
                        + " outside 1.." + Wire.MAX_BATCH);
            }
            long want = (long) n * (8 + Wire.PAGE);
            if (length - 4 != want) {
                throw new MigrationException(name + " record: length " + (length - 4) + ", expected " + want);
            }
            long[] gpas = new long[n];
            byte[] data = new byte[n * Wire.PAGE];
            for (int i = 0; i < n; i++) {
                gpas[i] = in.readLong();
                in.readFully(data, i * Wire.PAGE, Wire.PAGE);
            }
            return new MigrationRecord.Pages(gpas, data);
        } catch (EOFException e) {
            throw new MigrationException(name + " record: stream ended inside the " + length + "-byte payload");
        }
    }

    private static MigrationRecord zeroPages(ByteBuffer b) {
        int n = count("ZERO_PAGES", b, Wire.MAX_ZERO_BATCH, 8);
        long[] gpas = new long[n];
        for (int i = 0; i < n; i++) {
            gpas[i] = b.getLong();
        }
        return new MigrationRecord.ZeroPages(gpas);
    }

    private static MigrationRecord device(ByteBuffer b) {
        if (b.remaining() < 2) {
            throw new MigrationException("DEVICE record: no name length");
        }
        int n = Short.toUnsignedInt(b.getShort());
        if (n < 1 || n > DeviceState.MAX_NAME || n > b.remaining()) {
            throw new MigrationException("DEVICE record: name length " + n + " outside 1.."
                    + Math.min(DeviceState.MAX_NAME, b.remaining()));
        }
        byte[] name = new byte[n];
        b.get(name);
        byte[] state = new byte[b.remaining()];
        b.get(state);
        try {
            return new MigrationRecord.Device(DeviceState.of(new String(name, StandardCharsets.UTF_8), state));
        } catch (IllegalArgumentException e) {
            throw new MigrationException("DEVICE record: " + Wire.printable(e.getMessage()));
        }
    }

    private static String text(ByteBuffer b) {
        byte[] t = new byte[b.remaining()];
        b.get(t);
        // Printable only: the peer's reason ends up in our logs and on a terminal.
        return Wire.printable(new String(t, StandardCharsets.UTF_8));
    }
}
