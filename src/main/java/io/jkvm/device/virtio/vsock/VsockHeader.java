package io.jkvm.device.virtio.vsock;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The virtio-vsock packet header, struct virtio_vsock_hdr (virtio 1.2 §5.10.6): 44 bytes, little
 * endian, in front of every packet on the rx and tx queues. CIDs are 64-bit on the wire; ports,
 * lengths and credit counters are u32 and are held here as their raw 32-bit pattern (compare
 * them with {@link Integer#toUnsignedLong}). Decoding never fails: which values are acceptable
 * is the device's decision ({@link VsockPackets#check}), not the codec's.
 */
public record VsockHeader(long srcCid, long dstCid, int srcPort, int dstPort, int len, int type, int op, int flags,
        int bufAlloc, int fwdCnt) {
    public static final int SIZE = 44;

    /** type (§5.10.6): the only socket type this device offers (no VIRTIO_VSOCK_F_SEQPACKET). */
    public static final int TYPE_STREAM = 1;

    /** op (§5.10.6). */
    public static final int OP_INVALID = 0;
    public static final int OP_REQUEST = 1;
    public static final int OP_RESPONSE = 2;
    public static final int OP_RST = 3;
    public static final int OP_SHUTDOWN = 4;
    public static final int OP_RW = 5;
    public static final int OP_CREDIT_UPDATE = 6;
    public static final int OP_CREDIT_REQUEST = 7;

    /** flags of OP_SHUTDOWN (§5.10.6.4): the sender will receive no more / send no more. */
    public static final int SHUTDOWN_RCV = 1;
    public static final int SHUTDOWN_SEND = 2;

    /** Reads a header from the first {@link #SIZE} bytes of {@code b} (at least that long). */
    public static VsockHeader decode(byte[] b) {
        ByteBuffer bb = ByteBuffer.wrap(b, 0, SIZE).order(ByteOrder.LITTLE_ENDIAN);
        return new VsockHeader(bb.getLong(0), bb.getLong(8), bb.getInt(16), bb.getInt(20), bb.getInt(24),
                bb.getShort(28) & 0xffff, bb.getShort(30) & 0xffff, bb.getInt(32), bb.getInt(36), bb.getInt(40));
    }

    /** The 44 wire bytes. */
    public byte[] encode() {
        ByteBuffer bb = ByteBuffer.allocate(SIZE).order(ByteOrder.LITTLE_ENDIAN);
        bb.putLong(srcCid).putLong(dstCid).putInt(srcPort).putInt(dstPort).putInt(len)
                .putShort((short) type).putShort((short) op).putInt(flags).putInt(bufAlloc).putInt(fwdCnt);
        return bb.array();
    }

    public long lenUnsigned() {
        return Integer.toUnsignedLong(len);
    }

    /** The same header with {@code len} replaced (the device learns a payload's size only after reading it). */
    public VsockHeader withLen(int n) {
        return new VsockHeader(srcCid, dstCid, srcPort, dstPort, n, type, op, flags, bufAlloc, fwdCnt);
    }

    public static String opName(int op) {
        return switch (op) {
            case OP_REQUEST -> "REQUEST";
            case OP_RESPONSE -> "RESPONSE";
            case OP_RST -> "RST";
            case OP_SHUTDOWN -> "SHUTDOWN";
            case OP_RW -> "RW";
            case OP_CREDIT_UPDATE -> "CREDIT_UPDATE";
            case OP_CREDIT_REQUEST -> "CREDIT_REQUEST";
            default -> "op " + op;
        };
    }
}
