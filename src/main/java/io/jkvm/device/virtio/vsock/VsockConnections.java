package io.jkvm.device.virtio.vsock;

import io.jkvm.device.virtio.DescriptorChain;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static io.jkvm.device.virtio.vsock.VsockHeader.*;

/**
 * The connection table of the vsock device and its state machine (virtio 1.2 §5.10.6.4-5, host
 * side as in Firecracker's hybrid vsock): packets from the guest, events from the host sockets,
 * and what goes back to the guest (control packets in a bounded queue, data read straight from a
 * host socket into a receive chain). I/O thread only.
 *
 * <p>Everything a guest or host client can make us hold is bounded: {@link VirtioVsock#MAX_CONNECTIONS}
 * connections, {@link VirtioVsock#MAX_HOST_CLIENTS} host clients before their CONNECT line, at most
 * {@link VirtioVsock#BUF_ALLOC} unforwarded bytes per connection (the credit we advertise: a guest
 * exceeding it is reset), and control packets beyond {@link VirtioVsock#MAX_CONTROL} stop the
 * transmit queue until the guest takes them (the device's gate).
 */
final class VsockConnections {
    private static final Logger LOG = LoggerFactory.getLogger(VsockConnections.class);
    /** Firecracker numbers host-initiated connections' local ports from 2^30 up. */
    static final int FIRST_LOCAL_PORT = 1 << 30;

    private final VsockMuxer muxer;
    private final long guestCid;
    private final long requestTimeoutNanos;
    private final Map<Long, VsockConnection> conns = new HashMap<>();
    private final HostListener listener;
    private final ArrayDeque<VsockHeader> control = new ArrayDeque<>();
    private int nextLocalPort = FIRST_LOCAL_PORT;
    private long resets;

    VsockConnections(VsockMuxer muxer, long guestCid, long requestTimeoutNanos) {
        this.muxer = muxer;
        this.guestCid = guestCid;
        this.requestTimeoutNanos = requestTimeoutNanos;
        this.listener = new HostListener(muxer);
    }

    int connectionCount() {
        return conns.size();
    }

    int hostClientCount() {
        return listener.waiting();
    }

    /** Whether the device should come back after {@link HostListener#ACCEPT_RETRY_NANOS} (a failed accept). */
    boolean acceptRetryPending() {
        return listener.acceptRetryPending();
    }

    int controlBacklog() {
        return control.size();
    }

    /** Connections reset so far (by either side or for a protocol violation). */
    long resets() {
        return resets;
    }

    // ---------------------------------------------------------------- packets from the guest

    /** One checked packet from the transmit queue; its payload ({@code h.len()} bytes) follows the header in {@code c}. */
    void fromGuest(VsockHeader h, DescriptorChain c) {
        long key = VsockConnection.key(h.dstPort(), h.srcPort());
        VsockConnection conn = conns.get(key);
        if (conn == null) {
            if (h.op() == OP_REQUEST) {
                guestConnect(h);
            } else if (h.op() != OP_RST) {
                rstFor(h); // §5.10.6.4: a packet for no connection is answered with RST (never an RST with one)
            }
            return;
        }
        conn.peerCredit(h);
        switch (h.op()) {
            case OP_RESPONSE -> {
                if (conn.state != VsockConnection.State.REQUESTED) {
                    reset(conn, true, "RESPONSE on an open connection");
                    return;
                }
                conn.state = VsockConnection.State.ESTABLISHED;
                // Firecracker's hybrid handshake: the host client learns the connection's local port.
                byte[] ok = ("OK " + Integer.toUnsignedString(conn.localPort) + "\n").getBytes(StandardCharsets.US_ASCII);
                conn.queueToHost(ByteBuffer.wrap(ok));
                conn.preamble = ok.length;
                flush(conn);
                muxer.want(conn.handle, SelectionKey.OP_READ);
            }
            case OP_RST -> reset(conn, false, null);
            case OP_SHUTDOWN -> {
                conn.peerShutdown |= h.flags() & (SHUTDOWN_RCV | SHUTDOWN_SEND);
                settle(conn);
            }
            case OP_RW -> guestData(conn, h, c);
            case OP_CREDIT_UPDATE -> { } // the credit was taken above; the device pumps the receive side after a turn
            case OP_CREDIT_REQUEST -> {
                if (!conn.creditUpdateQueued) {
                    conn.creditUpdateQueued = true;
                    queueControl(conn, OP_CREDIT_UPDATE, 0);
                }
            }
            default -> reset(conn, true, VsockHeader.opName(h.op()) + " on an open connection");
        }
    }

    private void guestConnect(VsockHeader h) {
        if (conns.size() >= VirtioVsock.MAX_CONNECTIONS) {
            LOG.debug("vsock: guest connection to port {} refused: {} connections open",
                    Integer.toUnsignedString(h.dstPort()), conns.size());
            rstFor(h);
            return;
        }
        SocketChannel ch;
        try {
            ch = muxer.connectToPort(Integer.toUnsignedLong(h.dstPort()));
        } catch (IOException | RuntimeException e) {
            LOG.debug("vsock: nothing listens for guest port {}: {}", Integer.toUnsignedString(h.dstPort()), e.toString());
            rstFor(h);
            return;
        }
        boolean connected = ch.isConnected();
        VsockConnection conn = new VsockConnection(h.dstPort(), h.srcPort(), ch,
                connected ? VsockConnection.State.ESTABLISHED : VsockConnection.State.CONNECTING);
        conn.peerCredit(h);
        try {
            conn.handle = muxer.register(ch, connected ? SelectionKey.OP_READ : SelectionKey.OP_CONNECT);
        } catch (IOException | RuntimeException e) {
            muxer.close(null, ch);
            rstFor(h);
            return;
        }
        conns.put(conn.key(), conn);
        if (connected) {
            queueControl(conn, OP_RESPONSE, 0);
        }
    }

    private void guestData(VsockConnection conn, VsockHeader h, DescriptorChain c) {
        if (conn.state != VsockConnection.State.ESTABLISHED || (conn.peerShutdown & SHUTDOWN_SEND) != 0) {
            reset(conn, true, "data on a connection not open for it");
            return;
        }
        int len = h.len();
        if (len == 0) {
            return;
        }
        if (len > conn.ourFree()) {
            // §5.10.6.3: the driver must not send more than our buf_alloc allows; we buffer no more than that.
            reset(conn, true, "guest sent " + len + " bytes with " + conn.ourFree() + " bytes of credit");
            return;
        }
        conn.rxCnt += len;
        List<MemorySegment> src = c.readableSlices(VsockHeader.SIZE, len);
        ByteBuffer[] bufs = new ByteBuffer[src.size()];
        for (int i = 0; i < bufs.length; i++) {
            bufs[i] = src.get(i).asByteBuffer();
        }
        try {
            if (conn.toHost.isEmpty()) {
                conn.fwdCnt += (int) conn.channel.write(bufs);
            }
        } catch (IOException e) {
            reset(conn, true, "host socket write failed: " + e);
            return;
        }
        int left = 0;
        for (ByteBuffer b : bufs) {
            left += b.remaining();
        }
        if (left > 0) {
            if (bufferedToHost() + left > MAX_BUFFERED) {
                // Every connection within its credit can still add up past the VMM's heap: the device holds a total.
                reset(conn, true, "the host sockets are " + (MAX_BUFFERED >> 20) + " MiB behind in all");
                return;
            }
            for (ByteBuffer b : bufs) {
                conn.appendToHost(b); // chunked: memory follows bytes, not packets
            }
            muxer.want(conn.handle, SelectionKey.OP_WRITE);
        }
        maybeCreditUpdate(conn);
    }

    /** Guest bytes held for host sockets across the device, at most (256 connections of credit would be 64 MiB). */
    static final long MAX_BUFFERED = 16L << 20;

    /** Bytes waiting for host sockets, over every connection (at most {@link VirtioVsock#MAX_CONNECTIONS} of them). */
    private long bufferedToHost() {
        long n = 0;
        for (VsockConnection c : conns.values()) {
            n += c.toHostBytes;
        }
        return n;
    }

    // ---------------------------------------------------------------- host events

    /**
     * Resets host-initiated connections whose REQUEST the guest left unanswered past the timeout
     * (as Firecracker does: a guest that never answers must not hold the host client and a
     * connection slot for ever). Returns nanoseconds until the next such deadline, or -1 if none.
     */
    long expireRequests(long now) {
        long clients = listener.expireClients(now);
        long next = clients < 0 ? Long.MAX_VALUE : clients;
        for (VsockConnection c : List.copyOf(conns.values())) {
            if (c.state != VsockConnection.State.REQUESTED) {
                continue;
            }
            long left = c.requestDeadline - now;
            if (left <= 0) {
                reset(c, true, "the guest did not answer the REQUEST");
            } else {
                next = Math.min(next, left);
            }
        }
        return next == Long.MAX_VALUE ? -1 : next;
    }

    /** Takes the host sockets' readiness: accepts, CONNECT lines, finished connects, writes, readable marks. */
    void serviceHost() {
        for (HostListener.Request r : listener.service(conns.size())) {
            hostConnect(r.client(), r.port());
        }
        for (VsockConnection conn : List.copyOf(conns.values())) {
            if (conns.get(conn.key()) != conn) {
                continue; // reset meanwhile
            }
            int r = conn.handle.takeReady();
            if ((r & SelectionKey.OP_CONNECT) != 0) {
                finishConnect(conn);
            }
            if ((r & SelectionKey.OP_WRITE) != 0 && conns.get(conn.key()) == conn) {
                flush(conn);
            }
            if ((r & SelectionKey.OP_READ) != 0) {
                conn.hostReadable = true;
            }
        }
    }

    /** A host client asked for guest port {@code port}: REQUEST it from the guest under a fresh local port. */
    private void hostConnect(HostClient cl, long port) {
        if (conns.size() >= VirtioVsock.MAX_CONNECTIONS) {
            muxer.close(cl.handle, cl.channel);
            return;
        }
        VsockConnection conn = new VsockConnection(allocateLocalPort(), (int) port, cl.channel, VsockConnection.State.REQUESTED);
        conn.handle = cl.handle; // watched again once the guest answers
        conn.requestDeadline = System.nanoTime() + requestTimeoutNanos;
        conns.put(conn.key(), conn);
        queueControl(conn, OP_REQUEST, 0);
    }

    private int allocateLocalPort() {
        while (true) {
            int p = nextLocalPort;
            nextLocalPort = nextLocalPort == -1 ? FIRST_LOCAL_PORT : nextLocalPort + 1;
            if (conns.values().stream().noneMatch(c -> c.localPort == p)) {
                return p; // at most MAX_CONNECTIONS ports are taken, so this ends
            }
        }
    }

    private void finishConnect(VsockConnection conn) {
        try {
            if (!conn.channel.finishConnect()) {
                muxer.want(conn.handle, SelectionKey.OP_CONNECT);
                return;
            }
        } catch (IOException e) {
            reset(conn, true, "connect to the host port failed: " + e);
            return;
        }
        conn.state = VsockConnection.State.ESTABLISHED;
        queueControl(conn, OP_RESPONSE, 0);
        muxer.want(conn.handle, SelectionKey.OP_READ);
    }

    /** Writes what waits for the host socket; the rest waits for OP_WRITE. */
    private void flush(VsockConnection conn) {
        try {
            while (!conn.toHost.isEmpty()) {
                ByteBuffer b = conn.toHost.peekFirst();
                int n = conn.channel.write(b);
                conn.toHostBytes -= n;
                int preamble = Math.min(n, conn.preamble); // the "OK <port>" line is ours, not guest bytes
                conn.preamble -= preamble;
                conn.fwdCnt += n - preamble;
                if (b.hasRemaining()) {
                    muxer.want(conn.handle, SelectionKey.OP_WRITE);
                    return;
                }
                conn.toHost.pollFirst();
            }
        } catch (IOException e) {
            reset(conn, true, "host socket write failed: " + e);
            return;
        }
        maybeCreditUpdate(conn);
        settle(conn);
    }

    /**
     * Applies the shutdown state once the host has everything: the guest's SEND shutdown becomes a
     * half-close of the host socket; a guest that shut both ways (its close()) or a connection
     * finished in both directions is reset, which is the RST the guest's close waits for (§5.10.6.4).
     */
    private void settle(VsockConnection conn) {
        if (!conn.toHost.isEmpty() || conns.get(conn.key()) != conn) {
            return;
        }
        boolean guestDone = (conn.peerShutdown & SHUTDOWN_SEND) != 0;
        if (conn.peerShutdown == (SHUTDOWN_RCV | SHUTDOWN_SEND) || (guestDone && conn.hostEof)) {
            reset(conn, true, null);
            return;
        }
        if (guestDone) {
            try {
                conn.channel.shutdownOutput();
            } catch (IOException e) {
                reset(conn, true, "host socket shutdown failed: " + e);
            }
        }
    }

    /**
     * Sends CREDIT_UPDATE when the guest's idea of our free space (from the fwd_cnt it last heard)
     * has fallen below one maximal packet while we have more: otherwise a guest that filled our
     * buffer would wait for ever (§5.10.6.3).
     */
    private void maybeCreditUpdate(VsockConnection conn) {
        long seen = conn.ourFreeAsSeenByPeer();
        if (seen < VirtioVsock.MAX_PAYLOAD && conn.ourFree() > seen && !conn.creditUpdateQueued
                && conns.get(conn.key()) == conn) {
            conn.creditUpdateQueued = true;
            queueControl(conn, OP_CREDIT_UPDATE, 0);
        }
    }

    // ---------------------------------------------------------------- to the guest

    /** Established connections with host bytes to read and guest credit for them. */
    List<VsockConnection> sendable() {
        List<VsockConnection> out = new ArrayList<>();
        for (VsockConnection c : conns.values()) {
            if (c.state == VsockConnection.State.ESTABLISHED && c.hostReadable && !c.hostEof
                    && (c.peerShutdown & SHUTDOWN_RCV) == 0 && c.peerFree() > 0) {
                out.add(c);
            }
        }
        return out;
    }

    boolean isOpen(VsockConnection c) {
        return conns.get(c.key()) == c;
    }

    /** The next control packet, its credit fields filled in now (so they are never stale); null if none. */
    VsockHeader pollControl() {
        VsockHeader h = control.pollFirst();
        if (h == null) {
            return null;
        }
        VsockConnection conn = conns.get(VsockConnection.key(h.srcPort(), h.dstPort()));
        int fwd = 0;
        if (conn != null) {
            fwd = conn.fwdCnt;
            conn.fwdCntSent = fwd;
            if (h.op() == OP_CREDIT_UPDATE) {
                conn.creditUpdateQueued = false;
            }
        }
        return new VsockHeader(h.srcCid(), h.dstCid(), h.srcPort(), h.dstPort(), 0, TYPE_STREAM, h.op(), h.flags(),
                VirtioVsock.BUF_ALLOC, fwd);
    }

    /**
     * Reads host bytes for {@code conn} into {@code c} (after a header it writes): the used length,
     * or -1 when the chain was not used (nothing to read now; the chain goes back). End of file on
     * the host socket becomes SHUTDOWN(SEND) in the chain.
     */
    int fill(VsockConnection conn, DescriptorChain c) {
        long room = Math.min(Math.min(c.writableLength() - (long) VsockHeader.SIZE, VirtioVsock.MAX_PAYLOAD),
                conn.peerFree());
        if (room <= 0) {
            return -1;
        }
        List<MemorySegment> dst = c.writableSlices(VsockHeader.SIZE, room);
        ByteBuffer[] bufs = new ByteBuffer[dst.size()];
        for (int i = 0; i < bufs.length; i++) {
            bufs[i] = dst.get(i).asByteBuffer();
        }
        long n;
        try {
            n = conn.channel.read(bufs);
        } catch (IOException e) {
            reset(conn, true, "host socket read failed: " + e);
            return -1;
        }
        if (n == 0) {
            conn.hostReadable = false;
            muxer.want(conn.handle, SelectionKey.OP_READ);
            return -1;
        }
        if (n < 0) {
            conn.hostEof = true;
            writeHeader(c, conn, OP_SHUTDOWN, SHUTDOWN_SEND, 0);
            settle(conn);
            return VsockHeader.SIZE;
        }
        conn.txCnt += (int) n;
        writeHeader(c, conn, OP_RW, 0, (int) n);
        return VsockHeader.SIZE + (int) n;
    }

    private void writeHeader(DescriptorChain c, VsockConnection conn, int op, int flags, int len) {
        conn.fwdCntSent = conn.fwdCnt;
        byte[] h = new VsockHeader(VirtioVsock.HOST_CID, guestCid, conn.localPort, conn.peerPort, len, TYPE_STREAM, op,
                flags, VirtioVsock.BUF_ALLOC, conn.fwdCnt).encode();
        c.write(0, h, 0, h.length);
    }

    // ---------------------------------------------------------------- teardown

    private void queueControl(VsockConnection conn, int op, int flags) {
        control.addLast(new VsockHeader(VirtioVsock.HOST_CID, guestCid, conn.localPort, conn.peerPort, 0, TYPE_STREAM, op,
                flags, VirtioVsock.BUF_ALLOC, conn.fwdCnt));
    }

    /** A packet the header check refused: its connection, if any, is reset, else the sender gets RST. */
    void refuse(VsockHeader h) {
        VsockConnection conn = conns.get(VsockConnection.key(h.dstPort(), h.srcPort()));
        if (conn != null) {
            reset(conn, true, "bad packet: " + h);
        } else {
            rstFor(h);
        }
    }

    /** RST in answer to a guest packet that has (or gets) no connection. */
    void rstFor(VsockHeader h) {
        control.addLast(new VsockHeader(VirtioVsock.HOST_CID, guestCid, h.dstPort(), h.srcPort(), 0, TYPE_STREAM, OP_RST, 0,
                VirtioVsock.BUF_ALLOC, 0));
    }

    /** Forgets {@code conn}, closing its host socket; {@code tellGuest} sends RST. */
    private void reset(VsockConnection conn, boolean tellGuest, String why) {
        if (why != null) {
            LOG.debug("vsock: {} reset: {}", conn, why);
        }
        if (conns.remove(conn.key()) != conn) {
            return;
        }
        resets++;
        // Control packets still queued for it go out before the RST, in order; stale credit is harmless.
        if (tellGuest) {
            control.addLast(new VsockHeader(VirtioVsock.HOST_CID, guestCid, conn.localPort, conn.peerPort, 0, TYPE_STREAM,
                    OP_RST, 0, VirtioVsock.BUF_ALLOC, conn.fwdCnt));
        }
        muxer.close(conn.handle, conn.channel);
    }

    /** Drops every connection and host client without telling the guest (device reset, transport reset). */
    void dropAll() {
        for (VsockConnection c : conns.values()) {
            muxer.close(c.handle, c.channel);
        }
        conns.clear();
        listener.dropAll();
        control.clear();
    }
}
