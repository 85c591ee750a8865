package io.jkvm.device.virtio.vsock;

import io.jkvm.device.virtio.DescriptorChain;
import io.jkvm.device.virtio.VirtioContext;
import io.jkvm.device.virtio.VirtioDevice;
import io.jkvm.device.virtio.Virtqueue;
import io.jkvm.device.virtio.VirtqueueException;
import io.jkvm.snapshot.DeviceMismatchException;
import io.jkvm.snapshot.RecordCodec;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;

/**
 * virtio-vsock, the socket device (virtio 1.2 §5.10), with Firecracker's hybrid host side: guest
 * AF_VSOCK stream sockets meet host AF_UNIX sockets ({@link VsockMuxer}). Queue 0 rx (device to
 * guest), 1 tx (guest to device), 2 event; config space le64 guest_cid (§5.10.4). No device
 * features: VIRTIO_F_VERSION_1 comes from the transport, stream sockets need nothing more
 * (VIRTIO_VSOCK_F_SEQPACKET is not offered).
 *
 * <p><b>Turns.</b> A transmit kick drains the tx queue in the transport's bounded turn (at most
 * {@link VirtioContext#MAX_CHAINS_PER_TURN} chains), then pumps the receive side. The receive
 * side ({@link #pump}) runs on an rx kick and whenever the selector thread reports a ready host
 * socket: it takes the host events, sends queued control packets first, then host data round-robin
 * over connections that have guest credit, at most {@link #RX_BUDGET} chains, then yields and kicks
 * itself again. Control packets the guest does not collect hold the tx queue at
 * {@link #MAX_CONTROL}: a guest that sends and never receives stalls only itself.
 *
 * <p><b>Snapshots</b> (as Firecracker): the state is the guest CID; host connections are not
 * saved. After a restore the device sends VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event queue
 * (§5.10.6.6), on which the guest driver drops its connections and re-reads the CID.
 */
public final class VirtioVsock implements VirtioDevice {
    public static final int DEVICE_TYPE = 19;
    public static final int RX = 0;
    public static final int TX = 1;
    public static final int EVENT = 2;
    public static final int QUEUE_SIZE = 256;
    /** VMADDR_CID_HOST: the only peer the guest reaches through this device. */
    public static final long HOST_CID = 2;
    /** The per-connection buffer we advertise as buf_alloc, and the most we ever hold for one connection. */
    public static final int BUF_ALLOC = 256 * 1024;
    /** Largest payload of one packet either way (Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE is 64 KiB). */
    public static final int MAX_PAYLOAD = 64 * 1024;
    public static final int MAX_CONNECTIONS = 256;
    public static final int MAX_HOST_CLIENTS = 64;
    public static final int MAX_CONTROL = 512;
    static final int RX_BUDGET = 64;
    /**
     * How long a host client's REQUEST may wait for the guest's RESPONSE or RST. Firecracker
     * waits 2 s; a guest in the nested, emulated lab answers slower, so this is more generous.
     */
    static final long REQUEST_TIMEOUT_NANOS = 5_000_000_000L;
    /** §5.10.6.6: struct virtio_vsock_event's id for a transport reset. */
    static final int EVENT_TRANSPORT_RESET = 0;

    private final long guestCid;
    private final VsockMuxer muxer;
    private final VsockConnections conns;
    private final byte[] header = new byte[VsockHeader.SIZE];
    private VirtioContext context;
    private boolean txHeld;
    private boolean resetEventPending;
    private volatile long dropped;

    /**
     * A device for guest CID {@code guestCid} listening on {@code udsPath} (bound here: the host
     * can connect from the start; clients wait until the driver is up).
     */
    public VirtioVsock(long guestCid, Path udsPath) throws IOException {
        this(guestCid, udsPath, REQUEST_TIMEOUT_NANOS);
    }

    /** As above, with another REQUEST timeout (tests). */
    VirtioVsock(long guestCid, Path udsPath, long requestTimeoutNanos) throws IOException {
        if (guestCid < 3 || guestCid > 0xffff_ffffL) {
            throw new IllegalArgumentException("guest_cid " + guestCid + " outside 3..2^32-1");
        }
        this.guestCid = guestCid;
        this.muxer = new VsockMuxer(udsPath);
        this.conns = new VsockConnections(muxer, guestCid, requestTimeoutNanos);
    }

    public long guestCid() {
        return guestCid;
    }

    public Path udsPath() {
        return muxer.path();
    }

    /** Guest packets dropped or refused by the header check so far. */
    public long droppedPackets() {
        return dropped;
    }

    /** Open connections (read after the I/O thread went round: {@code VirtioPciDevice.syncIo}). */
    public int connectionCount() {
        return conns.connectionCount();
    }

    /** Control packets waiting for receive buffers (same caveat). */
    public int controlBacklog() {
        return conns.controlBacklog();
    }

    @Override
    public int deviceType() {
        return DEVICE_TYPE;
    }

    @Override
    public int pciClassCode() {
        return 0xff_00_00; // no PCI class fits; Linux binds by the virtio device id
    }

    @Override
    public int queueCount() {
        return 3;
    }

    @Override
    public int queueMaxSize(int index) {
        return QUEUE_SIZE;
    }

    @Override
    public long deviceFeatures() {
        return 0;
    }

    @Override
    public int configSize() {
        return 8;
    }

    @Override
    public void readConfig(int offset, byte[] dst) {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, guestCid);
        b.get(offset, dst);
    }

    @Override
    public void activate(VirtioContext ctx) {
        context = ctx;
        muxer.setWaker(() -> ctx.kick(RX)); // kick() is safe from any thread, even after a reset
        ctx.kick(RX); // host clients may have queued up before the driver was ready
    }

    @Override
    public void queueNotified(int index) throws VirtqueueException {
        switch (index) {
            case TX -> {
                context.drain(TX, this::admitTx, this::transmit);
                pump();
            }
            case RX -> pump();
            case EVENT -> deliverEvent();
            default -> { }
        }
    }

    /** Holds the tx queue while the guest leaves too many control packets uncollected. */
    private boolean admitTx(DescriptorChain c) {
        if (conns.controlBacklog() >= MAX_CONTROL) {
            txHeld = true;
            return false;
        }
        return true;
    }

    private int transmit(DescriptorChain c) {
        if (c.readableLength() < VsockHeader.SIZE) {
            dropped++;
            return 0;
        }
        c.read(0, header, 0, VsockHeader.SIZE);
        VsockHeader h = VsockHeader.decode(header);
        switch (VsockPackets.check(h, c.readableLength() - (long) VsockHeader.SIZE, guestCid)) {
            case ACCEPT -> conns.fromGuest(h, c);
            case RST -> {
                dropped++;
                conns.refuse(h);
            }
            case DROP -> dropped++;
        }
        return 0; // §5.10.6.2: tx buffers are device-readable only
    }

    /** The receive side: host events, then control packets, then host data (see the class comment). */
    private void pump() throws VirtqueueException {
        conns.serviceHost();
        long next = conns.expireRequests(System.nanoTime());
        if (conns.acceptRetryPending()) {
            next = next < 0 ? HostListener.ACCEPT_RETRY_NANOS : Math.min(next, HostListener.ACCEPT_RETRY_NANOS);
        }
        if (next >= 0) {
            context.kickAfter(RX, next); // back for the earliest unanswered REQUEST's timeout or an accept retry
        }
        Virtqueue q = context.queue(RX);
        if (q.isReady()) {
            int used = 0;
            boolean empty = false;
            while (used < RX_BUDGET && conns.controlBacklog() > 0) {
                DescriptorChain c = next(q);
                if (c == null) {
                    empty = true;
                    break;
                }
                used++;
                if (c.writableLength() < VsockHeader.SIZE) {
                    q.addUsed(c.head(), 0); // cannot hold a header: returned unused
                    continue;
                }
                byte[] h = conns.pollControl().encode();
                c.write(0, h, 0, h.length);
                q.addUsed(c.head(), h.length);
            }
            data:
            while (!empty && used < RX_BUDGET) {
                List<VsockConnection> ready = conns.sendable();
                boolean progress = false;
                for (VsockConnection conn : ready) {
                    if (used >= RX_BUDGET) {
                        break data;
                    }
                    if (!conns.isOpen(conn)) {
                        continue;
                    }
                    DescriptorChain c = next(q);
                    if (c == null) {
                        empty = true;
                        break data;
                    }
                    if (c.writableLength() <= VsockHeader.SIZE) {
                        q.addUsed(c.head(), 0);
                        used++;
                        continue;
                    }
                    int n = conns.fill(conn, c);
                    if (n < 0) {
                        q.unpop();
                        continue;
                    }
                    q.addUsed(c.head(), n);
                    used++;
                    progress = true;
                }
                if (!progress) {
                    break;
                }
            }
            if (q.needsInterrupt()) {
                context.notifyQueue(RX);
            }
            if (used >= RX_BUDGET || (!empty && conns.controlBacklog() > 0)) {
                context.kick(RX); // more to send: next turn of the I/O thread
            }
        }
        if (txHeld && conns.controlBacklog() < MAX_CONTROL) {
            txHeld = false;
            context.kick(TX);
        }
    }

    /** The next receive chain; null (notifications re-armed) when the guest has none. */
    private static DescriptorChain next(Virtqueue q) throws VirtqueueException {
        DescriptorChain c = q.pop();
        if (c == null && q.rearm()) {
            c = q.pop();
        }
        return c;
    }

    /** Sends a pending TRANSPORT_RESET into the guest's first event buffer that can hold it. */
    private void deliverEvent() throws VirtqueueException {
        Virtqueue q = context.queue(EVENT);
        if (!resetEventPending || !q.isReady()) {
            return;
        }
        for (int i = 0; i < QUEUE_SIZE && resetEventPending; i++) {
            DescriptorChain c = next(q);
            if (c == null) {
                break; // the guest's next event-queue kick brings us back
            }
            if (c.writableLength() < 4) {
                q.addUsed(c.head(), 0);
                continue;
            }
            c.write(0, new byte[] {EVENT_TRANSPORT_RESET, 0, 0, 0}, 0, 4);
            q.addUsed(c.head(), 4);
            resetEventPending = false;
        }
        if (q.needsInterrupt()) {
            context.notifyQueue(EVENT);
        }
    }

    /** What a snapshot holds of the device: its guest CID (connections are not saved, as in Firecracker). */
    public record State(long guestCid) {
        public static final RecordCodec<State> CODEC = RecordCodec.of("virtio-vsock", State.class,
                (s, w) -> w.i64(s.guestCid), r -> new State(r.i64("guest_cid")));

        public State {
            if (guestCid < 3 || guestCid > 0xffff_ffffL) {
                throw new IllegalArgumentException("guest_cid " + guestCid + " outside 3..2^32-1");
            }
        }
    }

    @Override
    public State save() {
        return new State(guestCid);
    }

    /**
     * Restores after a snapshot: the CID must be the configured one; with the device active, the
     * guest is told its transport was reset (its connections are gone), as Firecracker does.
     */
    @Override
    public void restoreState(Record state, boolean active) {
        State s = VirtioDevice.stateOf(state, State.class, "virtio-vsock");
        if (s.guestCid() != guestCid) {
            throw new DeviceMismatchException("virtio-vsock", "the snapshot has guest_cid " + s.guestCid()
                    + ", the configuration " + guestCid);
        }
        conns.dropAll();
        if (active) {
            resetEventPending = true;
            context.kick(EVENT); // resuming I/O re-polls every queue as well
        }
    }

    @Override
    public void reset() {
        muxer.setWaker(null);
        conns.dropAll();
        txHeld = false;
        resetEventPending = false;
        context = null;
    }

    @Override
    public void close() {
        muxer.setWaker(null);
        conns.dropAll();
        muxer.close();
    }
}
