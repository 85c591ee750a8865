package io.jkvm.mmds;

/**
 * Byte-level helpers for the MMDS stack's frames: big-endian fields, the Internet checksum
 * (RFC 1071) and the offsets of Ethernet II, ARP (for IPv4 over Ethernet) and IPv4 headers.
 */
final class Packets {
    static final int ETH_HLEN = 14;
    static final int ETHERTYPE = 12;
    static final int TYPE_IPV4 = 0x0800;
    static final int TYPE_ARP = 0x0806;
    /** ARP for IPv4 over Ethernet: 28 bytes after the Ethernet header. */
    static final int ARP_LEN = 28;
    static final int IP_HLEN = 20;
    static final int TCP_HLEN = 20;
    static final int PROTO_TCP = 6;

    private Packets() {}

    static int u8(byte[] b, int off) {
        return b[off] & 0xff;
    }

    static int u16(byte[] b, int off) {
        return (b[off] & 0xff) << 8 | b[off + 1] & 0xff;
    }

    static int i32(byte[] b, int off) {
        return (b[off] & 0xff) << 24 | (b[off + 1] & 0xff) << 16 | (b[off + 2] & 0xff) << 8 | b[off + 3] & 0xff;
    }

    static void put16(byte[] b, int off, int v) {
        b[off] = (byte) (v >>> 8);
        b[off + 1] = (byte) v;
    }

    static void put32(byte[] b, int off, int v) {
        b[off] = (byte) (v >>> 24);
        b[off + 1] = (byte) (v >>> 16);
        b[off + 2] = (byte) (v >>> 8);
        b[off + 3] = (byte) v;
    }

    /** The one's-complement sum of {@code b[off..off+len)} added to {@code sum}, not folded. */
    static long sum(byte[] b, int off, int len, long sum) {
        int i = 0;
        for (; i + 1 < len; i += 2) {
            sum += u16(b, off + i);
        }
        if (i < len) {
            sum += (b[off + i] & 0xff) << 8;
        }
        return sum;
    }

    /** The folded, complemented checksum of a sum. */
    static int fold(long sum) {
        while ((sum >>> 16) != 0) {
            sum = (sum & 0xffff) + (sum >>> 16);
        }
        return (int) ~sum & 0xffff;
    }

    /** Whether {@code a} comes after {@code b} in sequence space (RFC 793 modular comparison). */
    static boolean after(int a, int b) {
        return a - b > 0;
    }
}
