package io.jkvm.device.virtio.vsock;

import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.ArrayDeque;

/**
 * One stream connection between a guest port and a host Unix socket, with the credit accounting
 * of virtio 1.2 §5.10.6.3. Touched only on the device's I/O thread.
 *
 * <p>Counters are u32 on the wire and wrap; they are kept as ints and compared by unsigned
 * differences. Our side: {@code rxCnt} bytes received from the guest, {@code fwdCnt} of them
 * handed to the host socket (the rest wait in {@link #toHost}, at most {@link VirtioVsock#BUF_ALLOC}
 * bytes, which is exactly the credit we advertise). The guest's side: its {@code buf_alloc} and
 * {@code fwd_cnt} from the newest header it sent, and {@code txCnt} bytes we sent it.
 */
final class VsockConnection {
    enum State {
        /** Host-initiated: REQUEST queued or sent to the guest, waiting for RESPONSE. */
        REQUESTED,
        /** Guest-initiated: connecting to {@code <uds_path>_<port>}. */
        CONNECTING,
        ESTABLISHED
    }

    final int localPort;
    final int peerPort;
    final SocketChannel channel;
    VsockMuxer.Handle handle;
    State state;

    int rxCnt;
    int fwdCnt;
    /** fwd_cnt in the newest header we queued for the guest: what the guest believes we forwarded. */
    int fwdCntSent;
    int txCnt;
    int peerBufAlloc;
    int peerFwdCnt;

    /** A CREDIT_UPDATE for this connection waits in the control queue (one is enough: it is stamped when sent). */
    boolean creditUpdateQueued;
    /** For {@link State#REQUESTED}: System.nanoTime() after which an unanswered REQUEST is given up. */
    long requestDeadline;

    /** Guest SHUTDOWN flags received (§5.10.6.4). */
    int peerShutdown;
    /** The host socket reached end of file and the guest was sent SHUTDOWN(SEND). */
    boolean hostEof;
    /** The host socket reported readable and has not yet been read down to EAGAIN. */
    boolean hostReadable;
    /** Bytes for the host socket that it has not accepted yet (then OP_WRITE is wanted). */
    final ArrayDeque<ByteBuffer> toHost = new ArrayDeque<>();
    int toHostBytes;
    /** Bytes at the head of {@link #toHost} that are the device's own (the "OK" line), not counted in fwd_cnt. */
    int preamble;

    VsockConnection(int localPort, int peerPort, SocketChannel channel, State state) {
        this.localPort = localPort;
        this.peerPort = peerPort;
        this.channel = channel;
        this.state = state;
    }

    static long key(int localPort, int peerPort) {
        return (Integer.toUnsignedLong(localPort) << 32) | Integer.toUnsignedLong(peerPort);
    }

    long key() {
        return key(localPort, peerPort);
    }

    /** Bytes the guest may still send us: our buffer minus what it holds unforwarded. */
    long ourFree() {
        return VirtioVsock.BUF_ALLOC - Integer.toUnsignedLong(rxCnt - fwdCnt);
    }

    /** Free space as the guest last heard of it (its view, from the fwd_cnt we last sent). */
    long ourFreeAsSeenByPeer() {
        return VirtioVsock.BUF_ALLOC - Integer.toUnsignedLong(rxCnt - fwdCntSent);
    }

    /**
     * Bytes we may send the guest (§5.10.6.3: buf_alloc - (tx_cnt - fwd_cnt)). A guest whose
     * fwd_cnt claims more than we sent makes the difference wrap to a huge value: that gives 0
     * credit, never more than its buf_alloc.
     */
    long peerFree() {
        long inFlight = Integer.toUnsignedLong(txCnt - peerFwdCnt);
        long alloc = Integer.toUnsignedLong(peerBufAlloc);
        return inFlight >= alloc ? 0 : alloc - inFlight;
    }

    /** Takes the guest's credit fields from a header it sent (every packet carries them, §5.10.6.3). */
    void peerCredit(VsockHeader h) {
        peerBufAlloc = h.bufAlloc();
        peerFwdCnt = h.fwdCnt();
    }

    /** Queues bytes the host socket did not take yet, as they are (the device's own "OK" line). */
    void queueToHost(ByteBuffer b) {
        toHost.addLast(b);
        toHostBytes += b.remaining();
    }

    /** Size of the buffers guest bytes are copied into while the host socket is behind. */
    static final int CHUNK = 64 * 1024;

    /**
     * Copies the remaining bytes of {@code b} to the end of the queue, filling the last chunk
     * before taking a new one: memory follows the bytes held (at most the credit plus one chunk),
     * never the number of packets, so a guest sending one-byte packets cannot multiply it.
     */
    void appendToHost(ByteBuffer b) {
        while (b.hasRemaining()) {
            ByteBuffer tail = toHost.peekLast();
            if (tail == null || tail.capacity() != CHUNK || tail.limit() == tail.capacity()) {
                tail = ByteBuffer.allocate(CHUNK).flip(); // empty, in read mode
                toHost.addLast(tail);
            }
            int n = Math.min(b.remaining(), tail.capacity() - tail.limit());
            int readFrom = tail.position();
            int end = tail.limit();
            tail.limit(end + n).position(end);
            tail.put(b.slice(b.position(), n));
            b.position(b.position() + n);
            tail.position(readFrom);
            toHostBytes += n;
        }
    }

    @Override
    public String toString() {
        return "vsock connection host port " + Integer.toUnsignedString(localPort) + " <-> guest port "
                + Integer.toUnsignedString(peerPort) + " (" + state + ")";
    }
}
