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
 * PAGES       u32 n (1..MAX_BATCH), n x (u64 gpa, 4096 bytes) guest RAM while the guest runs and at the pause
 * ZERO_PAGES  u32 n (1..MAX_ZERO_BATCH), n x u64 gpa          pages that are now all zeros
 * ROUND       u32 round, u64 pages sent in it                 end of a pre-copy round (informational)
 * KVM_STATE   the snapshot "kvm" section                      exactly once, after the last pages
 * DEVICE      u16 name length, name (UTF-8), state bytes      after KVM_STATE, names unique
 * DONE        empty                                           last record
 * ABORT       UTF-8 reason                                    anywhere: the source gave up
 * replies: READY (config accepted), REFUSED reason, RESUMED (the guest runs here), FAILED reason
 * </pre>
 */
final class Wire {
    private Wire() {}

    static final byte[] MAGIC = "JKVMMIGR".getBytes(StandardCharsets.US_ASCII);
    /** 2: CONFIG carries the device shape. */
    static final int VERSION = 2;
    static final int PAGE = io.jkvm.vmm.DirtyTracker.PAGE;
    static final int MAX_BATCH = 256;
    static final int MAX_ZERO_BATCH = 4096;
    static final int MAX_REASON = 1024;

    static final int CONFIG = 0x01;
    static final int PAGES = 0x02;
    static final int ZERO_PAGES = 0x03;
    static final int ROUND = 0x04;
    static final int KVM_STATE = 0x05;
    static final int DEVICE = 0x06;
    static final int DONE = 0x07;
    static final int ABORT = 0x08;
    static final int READY = 0x81;
    static final int REFUSED = 0x82;
    static final int RESUMED = 0x83;
    static final int FAILED = 0x84;

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
            case READY -> "READY";
            case REFUSED -> "REFUSED";
            case RESUMED -> "RESUMED";
            case FAILED -> "FAILED";
            default -> String.format("unknown(0x%02x)", type);
        };
    }
}
