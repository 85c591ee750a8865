package io.jkvm.device.virtio;

import io.jkvm.kvm.Native;
import io.jkvm.mmds.MmdsStack;
import io.jkvm.net.IoVec;
import io.jkvm.net.MacAddress;
import io.jkvm.net.NetBackend;
import io.jkvm.net.SelfAnnounce;
import io.jkvm.resources.RateLimitConfig;
import io.jkvm.resources.Throttle;
import io.jkvm.snapshot.DeviceMismatchException;
import io.jkvm.snapshot.RecordCodec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * virtio-net over a {@link NetBackend} (a TAP), virtio 1.2 §5.1: queue 0 receiveq1, queue 1
 * transmitq1; no control queue, no multiqueue.
 *
 * <p><b>Features</b>: MAC, STATUS (link always up), CSUM / HOST_TSO4 / HOST_TSO6 (the guest may
 * send partial checksums and GSO frames: the TAP takes them as they are), GUEST_CSUM /
 * GUEST_TSO4 / GUEST_TSO6 (the TAP is told with TUNSETOFFLOAD to hand us such frames), and
 * MRG_RXBUF. Every frame on either side carries the 12-byte virtio_net_hdr_v1, which is exactly
 * the TAP's vnet header, so headers pass through unchanged.
 *
 * <p><b>Zero copy</b>: transmit is one writev from the guest's readable buffers; receive is one
 * readv into the guest's writable buffers. Without MRG_RXBUF each frame goes into one chain
 * (num_buffers = 1). With it, the device first collects chains totalling the largest possible
 * frame, reads the frame across them, sets num_buffers to the number used (§5.1.6.4) and keeps
 * the unused chains for the next frame.
 *
 * <p>Receive is driven by the TAP becoming readable; when the guest has no buffers, or has not
 * enabled its receive queue at all, the TAP is no longer polled until the guest kicks the
 * receive queue (a frame left unread must not keep the I/O thread's poll returning). Transmit
 * chains without a complete header, and frames the TAP refuses, are dropped (returned with
 * length 0).
 *
 * <p><b>Rate limiting</b> (Firecracker's {@code tx_rate_limiter} and {@code rx_rate_limiter},
 * one {@link Throttle} each): a frame costs one op and its bytes on the wire (the virtio-net
 * header not counted). Transmit asks before the frame goes out: a refused chain stays on the
 * available ring and the transmit queue is served again by a timer when the tokens are there
 * ({@link VirtioContext#kickAfter}). Receive reads straight into guest buffers, so a frame's size
 * is known only once it is read: a frame is received while the bandwidth bucket is not in debt
 * and an op is available, then charged in full (its excess becomes debt the next frame waits
 * for; the long-run rate is exact, a burst overshoots by less than one frame). A throttled
 * receive stops polling the TAP and re-arms by the timer; frames meanwhile wait in the TAP's
 * queue, and beyond it the host kernel drops them, as a NIC's full ring would.
 * {@link #updateRateLimiters} changes the limits from any thread and takes effect at once.
 *
 * <p><b>Announcing</b>: there is no control queue, so no VIRTIO_NET_F_GUEST_ANNOUNCE; after a
 * migration or restore the VMM announces the guest itself ({@link #announceSelf}).
 *
 * <p><b>MMDS</b>: with a {@link MmdsStack} bound to the interface, each transmitted frame's
 * Ethernet/ARP/IPv4 header is peeked at (at most {@link MmdsStack#PEEK} bytes copied); a frame
 * for the MMDS address is copied whole into a fixed buffer (dropped when larger than
 * {@link MmdsStack#MAX_INPUT_FRAME}) and handed to the stack instead of the TAP. On receive, the
 * stack's frames come before the TAP's (behind a zeroed header, num_buffers = 1), and receive is
 * served after transmit whenever the stack may have something to say, so answers do not wait
 * for TAP traffic.
 */
public final class VirtioNet implements VirtioDevice {
    private static final Logger LOG = LoggerFactory.getLogger(VirtioNet.class);

    public static final int DEVICE_TYPE = 1;
    public static final int QUEUE_SIZE = 256;
    public static final int RX = 0;
    public static final int TX = 1;
    public static final int HDR = 12;

    public static final int F_CSUM = 0;
    public static final int F_GUEST_CSUM = 1;
    public static final int F_MAC = 5;
    public static final int F_GUEST_TSO4 = 7;
    public static final int F_GUEST_TSO6 = 8;
    public static final int F_HOST_TSO4 = 11;
    public static final int F_HOST_TSO6 = 12;
    public static final int F_MRG_RXBUF = 15;
    public static final int F_STATUS = 16;
    static final int STATUS_LINK_UP = 1;
    static final int CONFIG_SIZE = 10;
    /** Largest frame the TAP can hand over with GSO: 64 KiB IP packet + Ethernet/VLAN header. */
    static final int MAX_GSO_FRAME = 65550;
    /** Ethernet + VLAN tag + 1500 bytes payload. */
    static final int MAX_PLAIN_FRAME = 1518;
    /** Frames moved per wake-up before yielding to other work on the I/O thread. */
    static final int RX_BUDGET = 64;

    private final NetBackend backend;
    private final MacAddress mac;
    private final Throttle rxThrottle;
    private final Throttle txThrottle;
    private final Deque<DescriptorChain> rxStash = new ArrayDeque<>();
    private VirtioContext context;
    private EventLoop.Watch backendWatch;
    private long txDropped;
    private final IoStats stats;
    private long rxDropped;
    /** The MMDS's stack on this interface, or null; its buffers, fixed in size. */
    private final MmdsStack mmds;
    private final byte[] mmdsIn;
    private final byte[] mmdsOut;
    private final byte[] mmdsFrame;
    /** Taken by {@link #close} and by an announcement's write: no frame goes to a closed (or reused) descriptor. */
    private final Object backendLock = new Object();
    private boolean backendClosed;

    public VirtioNet(NetBackend backend, MacAddress mac) {
        this(backend, mac, Throttle.unlimited(), Throttle.unlimited());
    }

    /** As above, receive and transmit limited by {@code rx} and {@code tx} (which outlive the device: see {@link Throttle}). */
    public VirtioNet(NetBackend backend, MacAddress mac, Throttle rx, Throttle tx) {
        this(backend, mac, rx, tx, new IoStats());
    }

    /** As above, counting received ("in") and transmitted ("out") frames in {@code stats}, which outlive the device. */
    public VirtioNet(NetBackend backend, MacAddress mac, Throttle rx, Throttle tx, IoStats stats) {
        this(backend, mac, rx, tx, stats, null);
    }

    /** As above, with the MMDS answering on this interface when {@code mmds} is not null. */
    public VirtioNet(NetBackend backend, MacAddress mac, Throttle rx, Throttle tx, IoStats stats, MmdsStack mmds) {
        this.mmds = mmds;
        this.mmdsIn = mmds == null ? null : new byte[MmdsStack.MAX_INPUT_FRAME];
        this.mmdsOut = mmds == null ? null : new byte[HDR + MmdsStack.MAX_FRAME];
        this.mmdsFrame = mmds == null ? null : new byte[MmdsStack.MAX_FRAME];
        this.stats = java.util.Objects.requireNonNull(stats, "stats");
        this.backend = backend;
        this.mac = mac;
        this.rxThrottle = java.util.Objects.requireNonNull(rx, "rx");
        this.txThrottle = java.util.Objects.requireNonNull(tx, "tx");
    }

    /**
     * Replaces the receive and transmit limits, from any thread (see
     * {@link VirtioBlock#updateRateLimiter}); a queue waiting for tokens is looked at again at once.
     */
    public void updateRateLimiters(RateLimitConfig rx, RateLimitConfig tx) {
        rxThrottle.update(rx);
        txThrottle.update(tx);
    }

    public RateLimitConfig rxRateLimit() {
        return rxThrottle.config();
    }

    public RateLimitConfig txRateLimit() {
        return txThrottle.config();
    }

    /** How often, and for how long in all, receive waited for its rate limiter. */
    public Throttle.Stats rxThrottleStats() {
        return rxThrottle.stats();
    }

    /** How often, and for how long in all, transmit waited for its rate limiter. */
    public Throttle.Stats txThrottleStats() {
        return txThrottle.stats();
    }

    @Override
    public int deviceType() {
        return DEVICE_TYPE;
    }

    @Override
    public int pciClassCode() {
        return 0x02_00_00; // Ethernet controller
    }

    @Override
    public int queueCount() {
        return 2;
    }

    @Override
    public int queueMaxSize(int index) {
        return QUEUE_SIZE;
    }

    @Override
    public long deviceFeatures() {
        long f = 0;
        for (int b : new int[] {F_CSUM, F_GUEST_CSUM, F_MAC, F_GUEST_TSO4, F_GUEST_TSO6, F_HOST_TSO4, F_HOST_TSO6,
                F_MRG_RXBUF, F_STATUS}) {
            f |= VirtioFeatures.bit(b);
        }
        return f;
    }

    @Override
    public int configSize() {
        return CONFIG_SIZE;
    }

    @Override
    public void readConfig(int offset, byte[] dst) {
        ByteBuffer b = ByteBuffer.allocate(CONFIG_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.put(0, mac.bytes());
        b.putShort(6, (short) STATUS_LINK_UP);
        b.putShort(8, (short) 1); // max_virtqueue_pairs (only meaningful with MQ)
        b.get(offset, dst);
    }

    public long txDropped() {
        return txDropped;
    }

    public long rxDropped() {
        return rxDropped;
    }

    @Override
    public void activate(VirtioContext ctx) {
        context = ctx;
        boolean csum = ctx.hasFeature(F_GUEST_CSUM);
        if (!backend.setOffloads(csum, csum && ctx.hasFeature(F_GUEST_TSO4), csum && ctx.hasFeature(F_GUEST_TSO6))) {
            LOG.warn("virtio-net: backend refused the negotiated receive offloads");
        }
        backendWatch = ctx.watch(backend.fd(), Native.POLLIN, rev -> receive());
        // kick() is safe from any thread, even after a reset.
        rxThrottle.setWaker(() -> ctx.kick(RX));
        txThrottle.setWaker(() -> ctx.kick(TX));
    }

    @Override
    public void queueNotified(int index) throws VirtqueueException {
        if (index == TX) {
            context.drain(TX, this::admitTx, this::transmit);
            if (mmds != null && mmds.hasOutput()) {
                receive(); // the MMDS may have answered: deliver it without waiting for the TAP
            }
        } else if (index == RX) {
            backendWatch.setEvents(Native.POLLIN); // buffers may be back: poll the TAP again
            receive();
        }
    }

    /** The transmit limiter's say on one frame; a refusal arms the queue's timer for when it will be granted. */
    private boolean admitTx(DescriptorChain c) {
        long wait = txThrottle.acquire(Math.max(0, c.readableLength() - HDR), 1);
        if (wait > 0) {
            context.kickAfter(TX, wait);
            return false;
        }
        return true;
    }

    private int transmit(DescriptorChain c) {
        if (c.readableLength() < HDR) {
            txDropped++;
            stats.invalid();
            return 0;
        }
        if (mmds != null && toMmds(c)) {
            return 0;
        }
        long r = IoVec.writev(backend.fd(), c.readableSlices(0, c.readableLength()));
        if (r < 0) {
            txDropped++; // TAP queue full (-EAGAIN) or interface down: drop like a NIC would
        } else {
            stats.out(c.readableLength() - HDR);
        }
        return 0;
    }

    /** Whether the chain's frame was for the MMDS (and so taken by it, or dropped); peeks at its headers only. */
    private boolean toMmds(DescriptorChain c) {
        int frame = c.readableLength() - HDR;
        int peeked = c.read(HDR, mmdsIn, 0, Math.min(frame, MmdsStack.PEEK));
        if (!mmds.isForMmds(mmdsIn, peeked)) {
            return false;
        }
        if (frame > MmdsStack.MAX_INPUT_FRAME) {
            txDropped++; // more than the MMDS's window could take: not for a TAP either
            return true;
        }
        c.read(HDR, mmdsIn, 0, frame);
        mmds.receive(mmdsIn, frame);
        return true;
    }

    /**
     * Puts the MMDS's next frame (if any) in {@code chains}, behind a zeroed header; returns
     * whether one was delivered. A frame that does not fit the chains is dropped (the stack's TCP
     * sends it again when the guest asks).
     */
    private boolean deliverMmds(Virtqueue q, List<DescriptorChain> chains, long capacity) {
        int n = mmds.poll(mmdsFrame);
        if (n == 0) {
            return false;
        }
        java.util.Arrays.fill(mmdsOut, 0, HDR, (byte) 0);
        System.arraycopy(mmdsFrame, 0, mmdsOut, HDR, n);
        int total = HDR + n;
        if (capacity < total) {
            rxDropped++;
            stashFront(chains);
            return true;
        }
        int done = 0;
        for (DescriptorChain c : chains) {
            if (done == total) {
                break;
            }
            done += c.write(0, mmdsOut, done, Math.min(total - done, c.writableLength()));
        }
        rxThrottle.charge(n, 1);
        complete(q, chains, total);
        return true;
    }

    private int maxFrame() {
        boolean gso = context.hasFeature(F_GUEST_TSO4) || context.hasFeature(F_GUEST_TSO6);
        return HDR + (gso ? MAX_GSO_FRAME : MAX_PLAIN_FRAME);
    }

    /** The next receive chain (stashed ones first); null after re-arming if none. */
    private DescriptorChain nextRxChain() throws VirtqueueException {
        if (!rxStash.isEmpty()) {
            return rxStash.pollFirst();
        }
        Virtqueue q = context.queue(RX);
        DescriptorChain c = q.pop();
        if (c == null && q.rearm()) {
            c = q.pop();
        }
        return c;
    }

    private void receive() throws VirtqueueException {
        Virtqueue q = context.queue(RX);
        if (!q.isReady()) {
            backendWatch.setEvents((short) 0); // DRIVER_OK without a receive queue: wait for one and its kick
            return;
        }
        boolean mergeable = context.hasFeature(F_MRG_RXBUF);
        int need = mergeable ? maxFrame() : 1;
        for (int frames = 0; frames < RX_BUDGET; frames++) {
            long wait = rxThrottle.readyIn(1, 1);
            if (wait > 0) {
                backendWatch.setEvents((short) 0); // no polling while throttled: the timer brings us back
                context.kickAfter(RX, wait);
                break;
            }
            List<DescriptorChain> chains = new ArrayList<>();
            long capacity = 0;
            while (capacity < need) {
                DescriptorChain c = nextRxChain();
                if (c == null) {
                    break;
                }
                if (c.writableLength() < HDR) {
                    q.addUsed(c.head(), 0); // cannot hold even a header: return it unused
                    continue;
                }
                chains.add(c);
                capacity += c.writableLength();
            }
            if (capacity < need || chains.isEmpty()) {
                stashFront(chains);
                backendWatch.setEvents((short) 0); // wait for an RX kick
                break;
            }
            if (mmds != null && mmds.hasOutput() && deliverMmds(q, chains, capacity)) {
                continue; // the MMDS's frames first; the TAP's when it has none
            }
            List<MemorySegment> iov = new ArrayList<>();
            for (DescriptorChain c : chains) {
                iov.addAll(c.writableSlices(0, c.writableLength()));
            }
            long n = IoVec.readv(backend.fd(), iov);
            if (n == -Native.EAGAIN) {
                stashFront(chains);
                break;
            }
            if (n == 0) {
                // End of file: the backend is gone and stays readable (EOF) for ever; stop polling it.
                stashFront(chains);
                backendWatch.setEvents((short) 0);
                LOG.warn("virtio-net: the backend closed; no more frames are received");
                break;
            }
            if (n < 0) {
                stashFront(chains);
                rxDropped++;
                LOG.debug("virtio-net: backend read failed: errno {}", -n);
                break;
            }
            rxThrottle.charge(Math.max(0, n - HDR), 1);
            stats.in(Math.max(0, n - HDR));
            complete(q, chains, n);
        }
        if (q.needsInterrupt()) {
            context.notifyQueue(RX);
        }
    }

    /** Hands a received frame of {@code n} bytes (header included) to the used ring. */
    private void complete(Virtqueue q, List<DescriptorChain> chains, long n) {
        int used = 0;
        long left = n;
        int[] lens = new int[chains.size()];
        while (left > 0 && used < chains.size()) {
            int len = (int) Math.min(left, chains.get(used).writableLength());
            lens[used++] = len;
            left -= len;
        }
        // §5.1.6.4: num_buffers (le16 at offset 10) is 1 unless buffers were merged.
        chains.getFirst().write(10, new byte[] {(byte) used, (byte) (used >> 8)}, 0, 2);
        for (int i = 0; i < used; i++) {
            q.addUsed(chains.get(i).head(), lens[i]);
        }
        stashFront(chains.subList(used, chains.size()));
    }

    private void stashFront(List<DescriptorChain> chains) {
        for (int i = chains.size() - 1; i >= 0; i--) {
            rxStash.addFirst(chains.get(i));
        }
    }

    /**
     * The receive chains popped but not yet used (the stash), by head index; restore parses them
     * again from the receive queue. The MAC is in the configuration.
     */
    public record State(int[] rxHeads) {
        /** u16 count (at most {@link #QUEUE_SIZE}), then u16 heads (each below {@link #QUEUE_SIZE}). */
        public static final RecordCodec<State> CODEC = RecordCodec.of("virtio-net", State.class, (s, w) -> {
            w.u16(s.rxHeads.length);
            for (int h : s.rxHeads) {
                w.u16(h);
            }
        }, r -> {
            int[] heads = new int[r.u16("receive chain count", 0, QUEUE_SIZE)];
            for (int i = 0; i < heads.length; i++) {
                heads[i] = r.u16("receive chain head", 0, QUEUE_SIZE - 1);
            }
            return new State(heads);
        });

        public State {
            if (rxHeads.length > QUEUE_SIZE) {
                throw new IllegalArgumentException(rxHeads.length + " receive chains exceed the queue size " + QUEUE_SIZE);
            }
            for (int h : rxHeads) {
                if (h < 0 || h >= QUEUE_SIZE) {
                    throw new IllegalArgumentException("receive chain head " + h + " outside 0.." + (QUEUE_SIZE - 1));
                }
            }
            rxHeads = rxHeads.clone();
        }

        @Override
        public int[] rxHeads() {
            return rxHeads.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof State s && java.util.Arrays.equals(rxHeads, s.rxHeads);
        }

        @Override
        public int hashCode() {
            return java.util.Arrays.hashCode(rxHeads);
        }

        @Override
        public String toString() {
            return "VirtioNet.State[rxHeads=" + java.util.Arrays.toString(rxHeads) + "]";
        }
    }

    @Override
    public State save() {
        return new State(rxStash.stream().mapToInt(DescriptorChain::head).toArray());
    }

    @Override
    public void restoreState(Record state, boolean active) {
        int[] heads = VirtioDevice.stateOf(state, State.class, "virtio-net").rxHeads();
        int n = heads.length;
        if (n > 0 && !active) {
            throw new DeviceMismatchException("virtio-net", "holds receive chains but the device is not active");
        }
        rxStash.clear();
        for (int i = 0; i < n; i++) {
            int head = heads[i];
            DescriptorChain c = context.queue(RX).chainAt(head);
            if (c == null) {
                context.queue(RX).addUsed(head, 0);
            } else {
                rxStash.addLast(c);
            }
        }
    }

    @Override
    public void reset() {
        rxThrottle.setWaker(null);
        txThrottle.setWaker(null);
        rxStash.clear();
        if (mmds != null) {
            mmds.reset();
        }
        backendWatch = null;
        context = null;
        backend.setOffloads(false, false, false);
    }

    /**
     * Announces the guest's MAC on this interface's new TAP ({@link SelfAnnounce}): after a live
     * migration or a restore, so bridges learn where the guest now is before it says anything.
     * Returns at once; the rounds run on a virtual thread and stop when the device closes.
     */
    public Thread announceSelf() {
        return SelfAnnounce.start("virtio-net-announce", mac, frame -> {
            synchronized (backendLock) {
                if (backendClosed) {
                    return false;
                }
                if (!SelfAnnounce.write(backend.fd(), frame)) {
                    LOG.debug("announcement not sent (the TAP is down or its queue full); the next round tries again");
                }
                return true;
            }
        });
    }

    @Override
    public void close() {
        rxThrottle.setWaker(null);
        txThrottle.setWaker(null);
        synchronized (backendLock) {
            backendClosed = true;
            backend.close();
        }
    }
}
