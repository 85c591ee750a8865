package io.jkvm.mmds;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The MMDS's network stack on one network interface: it takes the guest's Ethernet frames for
 * the MMDS address ({@link #isForMmds} says which, from their first {@link #PEEK} bytes) and
 * produces the frames that answer them ({@link #poll}).
 *
 * <ul>
 *   <li>Ethernet II only (no VLAN tags); ARP requests for the MMDS address are answered with
 *       {@link #MAC} (only the latest request is remembered).
 *   <li>IPv4 without options' meaning (skipped), header checksum checked; fragments and anything
 *       but TCP are dropped. The TCP checksum is not checked: with checksum offload the guest
 *       leaves it partial, and the virtio queue does not corrupt frames.
 *   <li>TCP on port 80 ({@link TcpConnection}); a segment for another port or an unknown
 *       connection is answered with a RST (at most {@link #MAX_PENDING_RESETS} queued, the rest
 *       dropped).
 *   <li>At most {@link #MAX_CONNECTIONS} connections (Firecracker's number); a SYN beyond it
 *       evicts a connection that has finished or never completed its handshake, or is reset.
 * </ul>
 *
 * Every bound is a constant: a frame costs work proportional to its length (at most one request
 * buffer is searched), and output is produced on demand, one frame per {@link #poll}, from the
 * connections' state, so nothing grows while the guest does not read. Not thread-safe: the
 * device's I/O thread owns it.
 */
public final class MmdsStack {
    /** Firecracker's MMDS MAC address (locally administered). */
    public static final byte[] MAC = {0x06, 0x01, 0x23, 0x45, 0x67, 0x01};
    public static final int PORT = 80;
    public static final int MAX_CONNECTIONS = 30;
    static final int MAX_PENDING_RESETS = 100;
    /** Bytes of a frame {@link #isForMmds} needs: Ethernet + ARP (IPv4's destination is within). */
    public static final int PEEK = Packets.ETH_HLEN + Packets.ARP_LEN;
    /** Largest frame {@link #poll} writes: Ethernet + IPv4 + TCP with the MSS option + one MSS. */
    public static final int MAX_FRAME = Packets.ETH_HLEN + Packets.IP_HLEN + Packets.TCP_HLEN + 4 + TcpConnection.MSS;
    /**
     * Largest frame {@link #receive} looks at: headers of the largest sizes and a full receive
     * window, so a guest's TSO frame of up to a window's data is taken whole; larger ones are
     * dropped (the window never allows them).
     */
    public static final int MAX_INPUT_FRAME = Packets.ETH_HLEN + 60 + 60 + TcpConnection.REQUEST_BUFFER;
    private static final int TTL = 1;

    private final int address;
    private final MmdsResponder responder;
    private final Map<Long, TcpConnection> connections = new LinkedHashMap<>();
    private final ArrayDeque<TcpConnection.Segment> resets = new ArrayDeque<>();
    private final ArrayDeque<Reply> resetTargets = new ArrayDeque<>();
    private byte[] arpMac;
    private int arpIp;
    private boolean arpPending;
    private int ipId;
    private final List<TcpConnection> roundRobin = new ArrayList<>();
    private int next;
    private long frames;
    private long dropped;

    private record Reply(byte[] mac, int ip, int port) {}

    public MmdsStack(int address, MmdsStore store) {
        this.address = address;
        this.responder = new MmdsResponder(store);
    }

    public int address() {
        return address;
    }

    /** Frames taken for the MMDS, and of them dropped as invalid or unsupported. */
    public long frames() {
        return frames;
    }

    public long dropped() {
        return dropped;
    }

    int connectionCount() {
        return connections.size();
    }

    /**
     * Whether a frame whose first {@code len} bytes are {@code b} is for the MMDS: an ARP packet
     * whose target is the MMDS address, or an IPv4 packet to it. Such frames must go to
     * {@link #receive}, never to the TAP; no other frame is taken.
     */
    public boolean isForMmds(byte[] b, int len) {
        if (len < Packets.ETH_HLEN + Packets.IP_HLEN) {
            return false;
        }
        int type = Packets.u16(b, Packets.ETHERTYPE);
        if (type == Packets.TYPE_IPV4) {
            return Packets.i32(b, Packets.ETH_HLEN + 16) == address;
        }
        return type == Packets.TYPE_ARP && len >= PEEK && Packets.i32(b, Packets.ETH_HLEN + 24) == address;
    }

    /** A frame {@link #isForMmds} took ({@code b[0..len)}, Ethernet header first). */
    public void receive(byte[] b, int len) {
        frames++;
        if (len > b.length || len > MAX_INPUT_FRAME || !isForMmds(b, len)) {
            dropped++;
            return;
        }
        if (Packets.u16(b, Packets.ETHERTYPE) == Packets.TYPE_ARP) {
            arp(b, len);
        } else {
            ipv4(b, len);
        }
    }

    private void arp(byte[] b, int len) {
        int a = Packets.ETH_HLEN;
        if (Packets.u16(b, a) != 1 || Packets.u16(b, a + 2) != Packets.TYPE_IPV4 || Packets.u8(b, a + 4) != 6
                || Packets.u8(b, a + 5) != 4 || Packets.u16(b, a + 6) != 1) {
            dropped++; // not an IPv4-over-Ethernet request
            return;
        }
        arpMac = java.util.Arrays.copyOfRange(b, a + 8, a + 14);
        arpIp = Packets.i32(b, a + 14);
        arpPending = true;
    }

    private void ipv4(byte[] b, int len) {
        int ip = Packets.ETH_HLEN;
        int ihl = (Packets.u8(b, ip) & 0x0f) * 4;
        int total = Packets.u16(b, ip + 2);
        if (Packets.u8(b, ip) >> 4 != 4 || ihl < Packets.IP_HLEN || total < ihl || ip + total > len
                || Packets.fold(Packets.sum(b, ip, ihl, 0)) != 0) {
            dropped++;
            return;
        }
        int frag = Packets.u16(b, ip + 6);
        if ((frag & 0x3fff) != 0 || Packets.u8(b, ip + 9) != Packets.PROTO_TCP) {
            dropped++; // a fragment (more follow, or not the first), or not TCP
            return;
        }
        int t = ip + ihl;
        int tcpLen = total - ihl;
        if (tcpLen < Packets.TCP_HLEN) {
            dropped++;
            return;
        }
        int doff = (Packets.u8(b, t + 12) >> 4) * 4;
        if (doff < Packets.TCP_HLEN || doff > tcpLen) {
            dropped++;
            return;
        }
        byte[] srcMac = java.util.Arrays.copyOfRange(b, 6, 12);
        int srcIp = Packets.i32(b, ip + 12);
        int srcPort = Packets.u16(b, t);
        int dstPort = Packets.u16(b, t + 2);
        int seq = Packets.i32(b, t + 4);
        int ack = Packets.i32(b, t + 8);
        int flags = Packets.u8(b, t + 13) & 0x3f;
        int window = Packets.u16(b, t + 14);
        int dataOff = t + doff;
        int dataLen = tcpLen - doff;
        long key = (long) srcIp << 16 | srcPort;
        if ((flags & TcpConnection.RST) != 0) {
            TcpConnection c = connections.get(key);
            if (c != null && dstPort == PORT) {
                c.receive(flags, seq, ack, window, b, dataOff, dataLen);
                forgetIfDone(key, c);
            }
            return; // never answer a reset
        }
        if (dstPort != PORT) {
            reset(srcMac, srcIp, srcPort, dstPort, flags, seq, ack, dataLen);
            return;
        }
        TcpConnection c = connections.get(key);
        boolean newSyn = (flags & (TcpConnection.SYN | TcpConnection.ACK)) == TcpConnection.SYN;
        if (newSyn && (c == null || !c.isSynOf(seq) && c.evictable())) {
            // A new connection (replacing one on the same port that has finished or never started).
            remove(key);
            if (connections.size() >= MAX_CONNECTIONS && !evictOne()) {
                reset(srcMac, srcIp, srcPort, dstPort, flags, seq, ack, dataLen);
                return;
            }
            int iss = ThreadLocalRandom.current().nextInt();
            c = new TcpConnection(srcIp, srcPort, srcMac, seq, iss, window, mss(b, t, doff), responder);
            connections.put(key, c);
            roundRobin.add(c);
            return;
        }
        if (c == null) {
            reset(srcMac, srcIp, srcPort, dstPort, flags, seq, ack, dataLen);
            return;
        }
        c.remoteMac = srcMac;
        c.receive(flags, seq, ack, window, b, dataOff, dataLen);
        forgetIfDone(key, c);
    }

    /** The MSS option of a SYN, or 0. Options are walked within the header only. */
    private static int mss(byte[] b, int t, int doff) {
        int i = t + Packets.TCP_HLEN;
        int end = t + doff;
        while (i < end) {
            int kind = Packets.u8(b, i);
            if (kind == 0) {
                break;
            }
            if (kind == 1) {
                i++;
                continue;
            }
            if (i + 1 >= end) {
                break;
            }
            int l = Packets.u8(b, i + 1);
            if (l < 2 || i + l > end) {
                break;
            }
            if (kind == 2 && l == 4) {
                return Packets.u16(b, i + 2);
            }
            i += l;
        }
        return 0;
    }

    /** Room for a new connection: drop one that has finished or never completed its handshake (oldest first). */
    private boolean evictOne() {
        for (Iterator<Map.Entry<Long, TcpConnection>> it = connections.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Long, TcpConnection> e = it.next();
            if (e.getValue().evictable()) {
                it.remove();
                roundRobin.remove(e.getValue());
                return true;
            }
        }
        return false;
    }

    private void forgetIfDone(long key, TcpConnection c) {
        if (c.done()) {
            remove(key);
        }
    }

    private void remove(long key) {
        TcpConnection c = connections.remove(key);
        if (c != null) {
            roundRobin.remove(c);
        }
    }

    /** RFC 793's reset for a segment nobody listens for. */
    private void reset(byte[] mac, int ip, int srcPort, int dstPort, int flags, int seq, int ack, int dataLen) {
        if (resets.size() >= MAX_PENDING_RESETS) {
            dropped++;
            return;
        }
        TcpConnection.Segment s;
        if ((flags & TcpConnection.ACK) != 0) {
            s = new TcpConnection.Segment(TcpConnection.RST, ack, 0, 0, null, 0, 0, false);
        } else {
            int len = dataLen + ((flags & TcpConnection.SYN) != 0 ? 1 : 0) + ((flags & TcpConnection.FIN) != 0 ? 1 : 0);
            s = new TcpConnection.Segment(TcpConnection.RST | TcpConnection.ACK, 0, seq + len, 0, null, 0, 0, false);
        }
        resets.add(s);
        resetTargets.add(new Reply(mac, ip, srcPort << 16 | dstPort));
    }

    /** Forgets every connection and pending answer (the device was reset: the guest's side is gone too). */
    public void reset() {
        connections.clear();
        roundRobin.clear();
        resets.clear();
        resetTargets.clear();
        arpPending = false;
        next = 0;
    }

    /** Whether {@link #poll} may have a frame (an ARP reply, a reset, or a connection with something to say). */
    public boolean hasOutput() {
        return arpPending || !resets.isEmpty() || !connections.isEmpty();
    }

    /**
     * Writes the next frame for the guest into {@code out} (at least {@link #MAX_FRAME} bytes)
     * and returns its length, or 0 when there is none.
     */
    public int poll(byte[] out) {
        if (arpPending) {
            arpPending = false;
            return arpReply(out);
        }
        if (!resets.isEmpty()) {
            TcpConnection.Segment s = resets.poll();
            Reply r = resetTargets.poll();
            return tcpFrame(out, r.mac(), r.ip(), r.port() & 0xffff, r.port() >>> 16, s);
        }
        int n = roundRobin.size();
        for (int i = 0; i < n; i++) {
            if (next >= roundRobin.size()) {
                next = 0;
            }
            TcpConnection c = roundRobin.get(next);
            TcpConnection.Segment s = c.nextSegment();
            if (c.done()) {
                remove((long) c.remoteIp << 16 | c.remotePort);
            } else {
                next++;
            }
            if (s != null) {
                return tcpFrame(out, c.remoteMac, c.remoteIp, PORT, c.remotePort, s);
            }
        }
        return 0;
    }

    private int arpReply(byte[] out) {
        System.arraycopy(arpMac, 0, out, 0, 6);
        System.arraycopy(MAC, 0, out, 6, 6);
        Packets.put16(out, Packets.ETHERTYPE, Packets.TYPE_ARP);
        int a = Packets.ETH_HLEN;
        Packets.put16(out, a, 1);
        Packets.put16(out, a + 2, Packets.TYPE_IPV4);
        out[a + 4] = 6;
        out[a + 5] = 4;
        Packets.put16(out, a + 6, 2);
        System.arraycopy(MAC, 0, out, a + 8, 6);
        Packets.put32(out, a + 14, address);
        System.arraycopy(arpMac, 0, out, a + 18, 6);
        Packets.put32(out, a + 24, arpIp);
        return a + Packets.ARP_LEN;
    }

    private int tcpFrame(byte[] out, byte[] mac, int ip, int srcPort, int dstPort, TcpConnection.Segment s) {
        System.arraycopy(mac, 0, out, 0, 6);
        System.arraycopy(MAC, 0, out, 6, 6);
        Packets.put16(out, Packets.ETHERTYPE, Packets.TYPE_IPV4);
        int iph = Packets.ETH_HLEN;
        int t = iph + Packets.IP_HLEN;
        int optLen = s.mssOption() ? 4 : 0;
        int tcpLen = Packets.TCP_HLEN + optLen + s.len();
        out[iph] = 0x45;
        out[iph + 1] = 0;
        Packets.put16(out, iph + 2, Packets.IP_HLEN + tcpLen);
        Packets.put16(out, iph + 4, ipId++ & 0xffff);
        Packets.put16(out, iph + 6, 0x4000); // don't fragment
        out[iph + 8] = TTL;
        out[iph + 9] = Packets.PROTO_TCP;
        Packets.put16(out, iph + 10, 0);
        Packets.put32(out, iph + 12, address);
        Packets.put32(out, iph + 16, ip);
        Packets.put16(out, iph + 10, Packets.fold(Packets.sum(out, iph, Packets.IP_HLEN, 0)));
        Packets.put16(out, t, srcPort);
        Packets.put16(out, t + 2, dstPort);
        Packets.put32(out, t + 4, s.seq());
        Packets.put32(out, t + 8, s.ack());
        out[t + 12] = (byte) ((Packets.TCP_HLEN + optLen) / 4 << 4);
        out[t + 13] = (byte) s.flags();
        Packets.put16(out, t + 14, s.window());
        Packets.put16(out, t + 16, 0);
        Packets.put16(out, t + 18, 0);
        if (s.mssOption()) {
            out[t + 20] = 2;
            out[t + 21] = 4;
            Packets.put16(out, t + 22, TcpConnection.MSS);
        }
        if (s.len() > 0) {
            System.arraycopy(s.data(), s.off(), out, t + Packets.TCP_HLEN + optLen, s.len());
        }
        long pseudo = Packets.sum(out, iph + 12, 8, 0) + Packets.PROTO_TCP + tcpLen;
        Packets.put16(out, t + 16, Packets.fold(Packets.sum(out, t, tcpLen, pseudo)));
        return t + tcpLen;
    }
}
