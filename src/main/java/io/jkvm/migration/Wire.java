package io.jkvm.migration;

import java.nio.charset.StandardCharsets;

/**
 * Constants of the migration stream. After the TLS handshake the source sends {@link #MAGIC},
 * a u32 {@link #VERSION}, then records: u8 type, u32 payload length, payload (all big-endian).
 * The destination answers on the same connection with records of the reply types.
 *
 * <pre>
 * CONFIG      u32 cpus, u64 memory bytes, u8 irqchip,         first record, exactly once
 *             u16 n, n bytes of {@link VmShape} (0: none)     (the guest-visible devices, no host paths)
 *             u8 k, k x u8 disk index                         disks (of the shape) whose contents travel in
 *                                                             the stream (storage migration), ascending
 *             u8 flags (version 4)                            bit 0: the source may switch to post-copy
 * PAGES       u32 n (1..MAX_BATCH), n x (u64 gpa, 4096 bytes) guest RAM while the guest runs and at the pause
 * ZERO_PAGES  u32 n (1..MAX_ZERO_BATCH), n x u64 gpa          pages that are now all zeros
 * BLOCKS      u8 disk, u64 offset, data (1..MAX_BLOCK_BYTES)  a copied disk's contents at offset; offset and
 *                                                             length whole sectors (512), inside the disk
 * ZERO_BLOCKS u8 disk, u64 offset, u64 length                 a copied disk's range that now reads as zeros
 *             (length 1..MAX_ZERO_BLOCK_BYTES, whole sectors)
 * ROUND       u32 round, u64 pages sent in it                 end of a pre-copy round (informational)
 * POSTCOPY    u32 n, ceil(n/8) bytes of bitmap                at most once, last before KVM_STATE, only if
 *                                                             CONFIG said so: chunk i (of n, {@link #POSTCOPY_CHUNK}
 *                                                             bytes, numbered by {@link io.jkvm.memory.RamChunks})
 *                                                             is not final at the destination when bit i%8 of
 *                                                             byte i/8 is set; it is fetched after the start
 * KVM_STATE   the snapshot "kvm" section                      exactly once, after the last pages
 * DEVICE      u16 name length, name (UTF-8), state bytes      after KVM_STATE, names unique
 *             (BLOCKS and ZERO_BLOCKS go where PAGES may: before KVM_STATE)
 * DONE        empty                                           last record
 * ABORT       UTF-8 reason                                    anywhere: the source gave up
 * CHUNK       u32 i, chunk i's bytes                          after DONE, post-copy only: the answer to REQUEST i
 * replies: READY (config accepted), REFUSED reason, RESUMED (the guest runs here), FAILED reason;
 * post-copy: REQUEST u32 i (send chunk i; from DONE on, also before RESUMED), FILLED (every chunk
 * arrived: the source may let go)
 * </pre>
 */
final class Wire {
    private Wire() {}

    static final byte[] MAGIC = "JKVMMIGR".getBytes(StandardCharsets.US_ASCII);
    /**
     * 2: CONFIG carries the device shape. 3: and the copied disks; BLOCKS, ZERO_BLOCKS. 4: CONFIG's
     * flags; POSTCOPY, CHUNK, REQUEST, FILLED. A source sends the oldest version that says what it
     * needs (2 unless it copies disks or may switch to post-copy), so older destinations still
     * take the streams they can.
     */
    static final int VERSION = 4;
    static final int OLDEST_VERSION = 2;
    /** The first version with copied disks in CONFIG (BLOCKS, ZERO_BLOCKS). */
    static final int DISKS_VERSION = 3;
    /** The first version with CONFIG's flags and post-copy's records. */
    static final int POSTCOPY_VERSION = 4;
    static final int PAGE = io.jkvm.vmm.DirtyTracker.PAGE;
    static final int MAX_BATCH = 256;
    static final int MAX_ZERO_BATCH = 4096;
    static final int MAX_REASON = 1024;
    /** Disk bytes in one BLOCKS record: 16 chunks of {@link io.jkvm.storage.DirtyChunks}' 64 KiB. */
    static final int MAX_BLOCK_BYTES = 1 << 20;
    static final int SECTOR = 512;
    /** Disk bytes one ZERO_BLOCKS may cover: the destination's work per record stays bounded. */
    static final long MAX_ZERO_BLOCK_BYTES = 64L << 20;
    /**
     * Post-copy moves RAM in chunks of 64 KiB: a destination's fault waits for one chunk, and a
     * page dirtied at the pause costs at most this much again.
     */
    static final int POSTCOPY_CHUNK = 64 << 10;
    /** CONFIG flag (version 4): post-copy may follow, the destination must be able to take it. */
    static final int FLAG_POSTCOPY = 1;

    static final int CONFIG = 0x01;
    static final int PAGES = 0x02;
    static final int ZERO_PAGES = 0x03;
    static final int ROUND = 0x04;
    static final int KVM_STATE = 0x05;
    static final int DEVICE = 0x06;
    static final int DONE = 0x07;
    static final int ABORT = 0x08;
    static final int BLOCKS = 0x09;
    static final int ZERO_BLOCKS = 0x0a;
    static final int POSTCOPY = 0x0b;
    static final int CHUNK = 0x0c;
    static final int READY = 0x81;
    static final int REFUSED = 0x82;
    static final int RESUMED = 0x83;
    static final int FAILED = 0x84;
    static final int REQUEST = 0x85;
    static final int FILLED = 0x86;

    /**
     * {@code text} from the peer as one printable line for our logs, replies and terminals: line
     * breaks become spaces, every other control or format character (C0 and C1 controls, such as
     * the CSI that starts a terminal escape; bidi overrides; unassigned code points) a '?'.
     */
    static String printable(String text) {
        return text.replaceAll("[\\r\\n]", " ").replaceAll("\\p{C}", "?");
    }

    /** Reply types (the destination's) are 0x8x; the source's records are below. */
    static boolean isReply(int type) {
        return (type & 0x80) != 0;
    }

    static String name(int type) {
        return switch (type) {
            case CONFIG -> "CONFIG";
            case PAGES -> "PAGES";
            case ZERO_PAGES -> "ZERO_PAGES";
            case ROUND -> "ROUND";
            case KVM_STATE -> "KVM_STATE";
            case DEVICE -> "DEVICE";
            case DONE -> "DONE";
            case ABORT -> "ABORT";
            case BLOCKS -> "BLOCKS";
            case ZERO_BLOCKS -> "ZERO_BLOCKS";
            case POSTCOPY -> "POSTCOPY";
            case CHUNK -> "CHUNK";
            case READY -> "READY";
            case REFUSED -> "REFUSED";
            case RESUMED -> "RESUMED";
            case FAILED -> "FAILED";
            case REQUEST -> "REQUEST";
            case FILLED -> "FILLED";
            default -> String.format("unknown(0x%02x)", type);
        };
    }
}
