package io.jkvm.net;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.Predicate;

/**
 * The frames a VMM sends for its guest once the guest runs behind a new TAP: after a live
 * migration (often another host, another bridge port) or a snapshot restore. Learning bridges and
 * switches keep sending the guest's traffic to the old port until a frame from its MAC arrives on
 * the new one, and an idle guest may send nothing for minutes; so the VMM sends, from the guest's
 * MAC, broadcast RARP requests (RFC 903: the ARP layout with opcode 3, EtherType 0x8035), which
 * every bridge on the way learns from and no host answers. This is what QEMU sends for a guest
 * without VIRTIO_NET_F_GUEST_ANNOUNCE (virtio 1.2 §5.1.6.5.4), with its default pacing: five
 * rounds, the first at once, then 50 ms apart and 100 ms longer each time, so a port that comes up
 * a little late (STP, a carrier still settling) still sees one.
 */
public final class SelfAnnounce {
    /** The smallest Ethernet frame without its FCS; the RARP payload is padded to it. */
    public static final int FRAME = 60;
    static final int ETHERTYPE_RARP = 0x8035;
    static final int RARP_REQUEST_REVERSE = 3;
    /** Offsets of the five rounds from the first, in milliseconds. */
    static final long[] ROUND_OFFSETS_MS = {0, 50, 200, 450, 800};

    private SelfAnnounce() {}

    /** One announcement as a TAP with IFF_VNET_HDR takes it: a zeroed virtio_net_hdr_v1, then the frame. */
    public static byte[] frame(MacAddress mac) {
        byte[] m = mac.bytes();
        byte[] f = new byte[Tap.VNET_HDR_SIZE + FRAME]; // header all zero: no checksum offload, no GSO
        int e = Tap.VNET_HDR_SIZE;
        java.util.Arrays.fill(f, e, e + 6, (byte) 0xff); // destination: broadcast
        System.arraycopy(m, 0, f, e + 6, 6); // source: the guest's MAC, the address bridges learn
        put16(f, e + 12, ETHERTYPE_RARP);
        int a = e + 14;
        put16(f, a, 1); // hardware type: Ethernet
        put16(f, a + 2, 0x0800); // protocol type: IPv4
        f[a + 4] = 6; // hardware address length
        f[a + 5] = 4; // protocol address length
        put16(f, a + 6, RARP_REQUEST_REVERSE);
        System.arraycopy(m, 0, f, a + 8, 6); // sender hardware address; sender IPv4 0.0.0.0
        System.arraycopy(m, 0, f, a + 18, 6); // target hardware address (whose IPv4 is asked); target IPv4 0.0.0.0
        return f; // the rest is padding, zero
    }

    /**
     * Sends the rounds on a virtual thread and returns it. {@code send} writes one announcement
     * (header and frame, in native memory) and returns false when the interface is gone, which
     * ends the rounds early.
     */
    public static Thread start(String name, MacAddress mac, Predicate<MemorySegment> send) {
        byte[] bytes = frame(mac);
        return Thread.ofVirtual().name(name).start(() -> {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment f = arena.allocate(bytes.length);
                MemorySegment.copy(MemorySegment.ofArray(bytes), 0, f, 0, bytes.length);
                long t0 = System.nanoTime();
                for (long offset : ROUND_OFFSETS_MS) {
                    long wait = offset - (System.nanoTime() - t0) / 1_000_000;
                    if (wait > 0) {
                        Thread.sleep(wait); // pacing between rounds, as on the wire
                    }
                    if (!send.test(f)) {
                        return;
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    /** Writes one announcement to a TAP-like {@code fd}; false unless the whole frame went (-EAGAIN, -EIO for a down interface). */
    public static boolean write(int fd, MemorySegment announcement) {
        return IoVec.writev(fd, List.of(announcement)) == announcement.byteSize();
    }

    private static void put16(byte[] b, int at, int v) {
        b[at] = (byte) (v >>> 8);
        b[at + 1] = (byte) v;
    }
}
