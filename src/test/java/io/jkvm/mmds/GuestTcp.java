package io.jkvm.mmds;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** A guest's side of the link in tests: builds real Ethernet/IPv4/TCP frames and parses the stack's. */
final class GuestTcp {
    static final byte[] GUEST_MAC = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
    static final int GUEST_IP = 0xA9FE0001; // 169.254.0.1
    static final int ACK = TcpConnection.ACK;
    static final int SYN = TcpConnection.SYN;
    static final int FIN = TcpConnection.FIN;
    static final int RST = TcpConnection.RST;
    static final int PSH = TcpConnection.PSH;

    final MmdsStack stack;
    final int port;
    int seq = 1000;
    int ack;
    final ByteArrayOutputStream received = new ByteArrayOutputStream();
    final List<Parsed> frames = new ArrayList<>();
    boolean finSeen;

    GuestTcp(MmdsStack stack, int port) {
        this.stack = stack;
        this.port = port;
    }

    /** A parsed TCP frame from the stack. */
    record Parsed(int srcPort, int dstPort, int seq, int ack, int flags, int window, byte[] data, int mssOption,
            boolean checksumsOk, byte[] dstMac) {}

    static byte[] tcp(int srcPort, int dstPort, int seq, int ack, int flags, int window, byte[] data, int dst) {
        int len = 14 + 20 + 20 + data.length;
        byte[] f = new byte[len];
        System.arraycopy(MmdsStack.MAC, 0, f, 0, 6);
        System.arraycopy(GUEST_MAC, 0, f, 6, 6);
        Packets.put16(f, 12, 0x0800);
        f[14] = 0x45;
        Packets.put16(f, 16, 40 + data.length);
        Packets.put16(f, 20, 0x4000);
        f[22] = 64;
        f[23] = 6;
        Packets.put32(f, 26, GUEST_IP);
        Packets.put32(f, 30, dst);
        Packets.put16(f, 24, Packets.fold(Packets.sum(f, 14, 20, 0)));
        Packets.put16(f, 34, srcPort);
        Packets.put16(f, 36, dstPort);
        Packets.put32(f, 38, seq);
        Packets.put32(f, 42, ack);
        f[46] = 0x50;
        f[47] = (byte) flags;
        Packets.put16(f, 48, window);
        System.arraycopy(data, 0, f, 54, data.length);
        // A partial checksum, as a guest with checksum offload leaves it: the stack must not care.
        Packets.put16(f, 50, 0x1234);
        return f;
    }

    static byte[] arpRequest(int target) {
        byte[] f = new byte[42];
        for (int i = 0; i < 6; i++) {
            f[i] = (byte) 0xff;
        }
        System.arraycopy(GUEST_MAC, 0, f, 6, 6);
        Packets.put16(f, 12, 0x0806);
        Packets.put16(f, 14, 1);
        Packets.put16(f, 16, 0x0800);
        f[18] = 6;
        f[19] = 4;
        Packets.put16(f, 20, 1);
        System.arraycopy(GUEST_MAC, 0, f, 22, 6);
        Packets.put32(f, 28, GUEST_IP);
        Packets.put32(f, 38, target);
        return f;
    }

    static Parsed parse(byte[] f, int len) {
        int ihl = (f[14] & 0xf) * 4;
        int total = Packets.u16(f, 16);
        int t = 14 + ihl;
        int tcpLen = total - ihl;
        boolean ipOk = Packets.fold(Packets.sum(f, 14, ihl, 0)) == 0 && 14 + total == len;
        long pseudo = Packets.sum(f, 26, 8, 0) + 6 + tcpLen;
        boolean tcpOk = Packets.fold(Packets.sum(f, t, tcpLen, pseudo)) == 0;
        int doff = (Packets.u8(f, t + 12) >> 4) * 4;
        int mss = doff > 20 && f[t + 20] == 2 ? Packets.u16(f, t + 22) : 0;
        byte[] data = java.util.Arrays.copyOfRange(f, t + doff, 14 + total);
        return new Parsed(Packets.u16(f, t), Packets.u16(f, t + 2), Packets.i32(f, t + 4), Packets.i32(f, t + 8),
                Packets.u8(f, t + 13), Packets.u16(f, t + 14), data, mss, ipOk && tcpOk,
                java.util.Arrays.copyOfRange(f, 0, 6));
    }

    void send(int flags, byte[] data) {
        send(flags, seq, data);
        seq += data.length + ((flags & (SYN | FIN)) != 0 ? 1 : 0);
    }

    void send(int flags, int atSeq, byte[] data) {
        byte[] f = tcp(port, 80, atSeq, ack, flags, 65535, data, stack.address());
        if (stack.isForMmds(f, f.length)) {
            stack.receive(f, f.length);
        } else {
            throw new AssertionError("the stack does not take a frame for its address");
        }
    }

    /** Takes every frame the stack has for this guest, tracking its data and FIN. */
    List<Parsed> drain() {
        List<Parsed> got = new ArrayList<>();
        byte[] out = new byte[MmdsStack.MAX_FRAME];
        for (int i = 0; i < 1000; i++) {
            int n = stack.poll(out);
            if (n == 0) {
                break;
            }
            Parsed p = parse(out, n);
            got.add(p);
            frames.add(p);
            if ((p.flags() & SYN) != 0) {
                ack = p.seq() + 1;
            } else if (p.seq() == ack) {
                received.write(p.data(), 0, p.data().length);
                ack += p.data().length;
                if ((p.flags() & FIN) != 0) {
                    ack += 1;
                    finSeen = true;
                }
            }
        }
        return got;
    }

    void connect() {
        send(SYN, new byte[0]);
        drain();
        send(ACK, new byte[0]);
    }

    String text() {
        return received.toString(StandardCharsets.UTF_8);
    }

    /** Sends {@code request}, acknowledging the answer as it comes, and returns what came. */
    String exchange(String request) {
        int before = received.size();
        send(ACK | PSH, request.getBytes(StandardCharsets.UTF_8));
        for (int i = 0; i < 100; i++) {
            if (drain().isEmpty()) {
                break;
            }
            send(ACK, new byte[0]);
        }
        return text().substring(before);
    }
}
