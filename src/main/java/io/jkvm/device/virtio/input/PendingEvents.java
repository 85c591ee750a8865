package io.jkvm.device.virtio.input;

import java.util.BitSet;

import static io.jkvm.device.virtio.input.InputCodes.*;

/**
 * The events waiting for the guest, in a fixed-size ring, and what the guest and the host each
 * believe is pressed. Client threads {@link #offer} groups (events ending in SYN_REPORT); the
 * device's I/O thread takes them one by one ({@link #next}) into the buffers the guest posts.
 *
 * <p><b>Overflow.</b> A guest that posts no buffers must not stall clients or grow memory, and
 * must not end up with a key held down forever (Linux autorepeats a key until its release
 * arrives). So when a group does not fit, everything pending is discarded (counted in
 * {@link #droppedEvents}) and replaced by a <em>resynchronisation</em>, the device's equivalent
 * of evdev's SYN_DROPPED: before anything else, the guest is sent one group that takes it from the
 * key state it was last sent to the host's current one (releases and presses) plus the current
 * absolute position, and then the group that overflowed (it fits in the emptied ring). Relative
 * motion (the wheel) in the discarded events is lost. The resynchronisation lives in its own
 * fixed buffer (at most every key and axis), so there is at most one and it takes no ring space.
 * A driver reset or a restore resynchronises the same way, from what the new driver holds.
 *
 * <p>Events that change nothing (a key already in that state, the pointer where it is) are left
 * out, and a group left with nothing is not queued: a client repeating itself costs no ring space.
 */
final class PendingEvents {
    /** Ring capacity in events; four times the 64 buffers Linux's driver keeps posted. */
    static final int CAPACITY = 256;
    /** The longest group accepted (the tablet's is 6: two axes, three buttons, SYN). */
    static final int MAX_GROUP = 16;
    /** The longest resynchronisation: every key and axis, and SYN. */
    static final int MAX_RESYNC = KEY_CNT + ABS_CNT + 1;

    private final long[] ring = new long[CAPACITY];
    private int head;
    private int count;

    private final BitSet hostKeys = new BitSet(KEY_CNT);
    private final BitSet guestKeys = new BitSet(KEY_CNT);
    private final int[] hostAbs = new int[ABS_CNT];
    private final BitSet hostAbsKnown = new BitSet(ABS_CNT);

    /** The last event delivered was not a SYN_REPORT. */
    private boolean guestMidGroup;
    private final long[] resync = new long[MAX_RESYNC];
    private int resyncPos;
    private int resyncLen;

    private long droppedEvents;
    private final long[] scratch = new long[MAX_GROUP];

    /**
     * Queues {@code group} (events without the final SYN_REPORT, which is added), updating the
     * host's state. Returns whether anything was queued (the caller then wakes the I/O thread).
     *
     * @throws IllegalArgumentException for a group longer than {@link #MAX_GROUP} - 1 or an
     *                                  event outside the key/axis ranges (a caller bug)
     */
    synchronized boolean offer(long... group) {
        if (group.length >= MAX_GROUP) {
            throw new IllegalArgumentException("input event group of " + group.length + " events");
        }
        int n = 0;
        for (long e : group) {
            int type = type(e);
            int code = code(e);
            int value = value(e);
            if (type == EV_KEY) {
                if (code >= KEY_CNT || value < 0 || value > 1) {
                    throw new IllegalArgumentException("key event " + code + "=" + value);
                }
                if (hostKeys.get(code) == (value == 1)) {
                    continue;
                }
            } else if (type == EV_ABS) {
                if (code >= ABS_CNT) {
                    throw new IllegalArgumentException("axis " + code);
                }
                if (hostAbsKnown.get(code) && hostAbs[code] == value) {
                    continue;
                }
            } else if (type == EV_SYN) {
                throw new IllegalArgumentException("SYN inside a group");
            }
            scratch[n++] = e;
        }
        if (n == 0) {
            return false;
        }
        scratch[n++] = SYN;
        if (CAPACITY - count < n) {
            droppedEvents += count + (resyncLen - resyncPos);
            head = 0;
            count = 0;
            resynchronise();
        }
        for (int i = 0; i < n; i++) {
            long e = scratch[i];
            if (type(e) == EV_KEY) {
                hostKeys.set(code(e), value(e) == 1);
            } else if (type(e) == EV_ABS) {
                hostAbs[code(e)] = value(e);
                hostAbsKnown.set(code(e));
            }
            ring[(head + count++) % CAPACITY] = e;
        }
        return true;
    }

    /** Whether an event is ready for the guest. */
    synchronized boolean hasNext() {
        return resyncPos < resyncLen || count > 0;
    }

    /** The next event for the guest, recorded as delivered; call only after {@link #hasNext}. */
    synchronized long next() {
        long e;
        if (resyncPos < resyncLen) {
            e = resync[resyncPos++];
        } else if (count > 0) {
            e = ring[head];
            head = (head + 1) % CAPACITY;
            count--;
        } else {
            throw new IllegalStateException("no pending input event");
        }
        if (type(e) == EV_KEY) {
            guestKeys.set(code(e), value(e) == 1);
        }
        guestMidGroup = e != SYN;
        return e;
    }

    /**
     * Replaces whatever resynchronisation is left with one from the guest's key state (what it
     * was sent) to the host's, plus the host's absolute position; ends it with SYN_REPORT if it
     * says anything or the guest is in the middle of a group (whose rest was dropped).
     */
    private void resynchronise() {
        int n = 0;
        BitSet differ = (BitSet) hostKeys.clone();
        differ.xor(guestKeys);
        for (int k = differ.nextSetBit(0); k >= 0; k = differ.nextSetBit(k + 1)) {
            resync[n++] = pack(EV_KEY, k, hostKeys.get(k) ? 1 : 0);
        }
        for (int a = hostAbsKnown.nextSetBit(0); a >= 0; a = hostAbsKnown.nextSetBit(a + 1)) {
            resync[n++] = pack(EV_ABS, a, hostAbs[a]);
        }
        if (n > 0 || guestMidGroup) {
            resync[n++] = SYN;
        }
        resyncPos = 0;
        resyncLen = n;
    }

    /**
     * The guest's input device went away (driver reset) or was restored with {@code guestDown}
     * held: what it holds is now {@code guestDown}, and the pending events (for a device
     * instance that no longer exists) are dropped for a resynchronisation to the host's state.
     */
    synchronized void guestRestarted(BitSet guestDown) {
        droppedEvents += count + (resyncLen - resyncPos);
        head = 0;
        count = 0;
        guestKeys.clear();
        guestKeys.or(guestDown);
        guestMidGroup = false;
        resynchronise();
    }

    /** Keys the guest was last told are down. */
    synchronized BitSet guestKeys() {
        return (BitSet) guestKeys.clone();
    }

    /** Keys the host holds down (all offered groups applied). */
    synchronized BitSet hostKeys() {
        return (BitSet) hostKeys.clone();
    }

    /** Events waiting: the ring plus what is left of a resynchronisation being delivered. */
    synchronized int held() {
        return count + (resyncLen - resyncPos);
    }

    synchronized long droppedEvents() {
        return droppedEvents;
    }
}
