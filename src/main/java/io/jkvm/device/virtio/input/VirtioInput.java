package io.jkvm.device.virtio.input;

import io.jkvm.device.virtio.DescriptorChain;
import io.jkvm.device.virtio.VirtioContext;
import io.jkvm.device.virtio.VirtioDevice;
import io.jkvm.device.virtio.VirtqueueException;
import io.jkvm.display.InputSink;
import io.jkvm.snapshot.RecordCodec;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Map;

import static io.jkvm.device.virtio.input.InputCodes.*;

/**
 * virtio-input (virtio 1.2 §5.8, device ID 18): one Linux input device, described by an
 * {@link InputProfile} ({@link #keyboard()}, {@link #tablet()}). Queue 0, the eventq, takes
 * writable buffers the driver posts, each filled with one 8-byte {@code virtio_input_event}
 * (le16 type, le16 code, le32 value); queue 1, the statusq, brings events from the driver (LED
 * state, repeat settings), which are read and returned. No feature bits (§5.8.3).
 *
 * <p>Host input arrives from any thread through {@link #offer}: it only queues the group in the
 * bounded {@link PendingEvents} (never blocking, never waiting for the guest) and kicks the
 * eventq, so events reach guest memory on the device's I/O thread only. A guest that posts no
 * buffers loses events beyond the bound, and is resynchronised when it posts again (see
 * {@link PendingEvents}).
 *
 * <p>A buffer the device cannot fill (fewer than 8 writable bytes, or only device-readable
 * descriptors) is a driver error (§5.8.6.2: the driver posts {@code virtio_input_event}-sized
 * writable buffers): it is returned with used length 0, counted, and costs no event.
 *
 * <p>Wiring: {@code VirtioInput.keyboard()} and {@code VirtioInput.tablet()} are two functions
 * (two virtio-input devices); {@link #inputSink} joins them into the {@link InputSink} a
 * display client is given.
 */
public final class VirtioInput implements VirtioDevice {
    public static final int DEVICE_TYPE = 18;
    public static final int EVENTQ = 0;
    public static final int STATUSQ = 1;
    public static final int QUEUE_SIZE = 64;
    /** {@code virtio_input_event}: le16 type, le16 code, le32 value. */
    public static final int EVENT_SIZE = 8;
    /** select, subsel, size, 5 reserved bytes, the 128-byte union. */
    public static final int CONFIG_SIZE = 8 + InputProfile.MAX_ANSWER;
    private static final byte[] NO_ANSWER = new byte[0];

    private final InputProfile profile;
    private final Map<Integer, byte[]> answers;
    private final PendingEvents pending = new PendingEvents();
    /** Driver-written selector bytes; read by config reads on any vCPU thread. */
    private int select;
    private int subsel;
    /** Set while active; client threads read it to kick. */
    private volatile VirtioContext context;
    /** I/O thread only. */
    private final byte[] eventBytes = new byte[EVENT_SIZE];
    private final ByteBuffer eventView = ByteBuffer.wrap(eventBytes).order(ByteOrder.LITTLE_ENDIAN);
    private final byte[] statusBytes = new byte[EVENT_SIZE];
    private final ByteBuffer statusView = ByteBuffer.wrap(statusBytes).order(ByteOrder.LITTLE_ENDIAN);
    private volatile long badBuffers;
    private volatile long statusEvents;
    private volatile int leds;

    public VirtioInput(InputProfile profile) {
        this.profile = profile;
        this.answers = profile.answers();
    }

    public static VirtioInput keyboard() {
        return new VirtioInput(InputProfile.keyboard());
    }

    public static VirtioInput tablet() {
        return new VirtioInput(InputProfile.tablet());
    }

    /** Host input for a keyboard and a tablet (either may be null: its input is dropped). */
    public static InputSink inputSink(VirtioInput keyboard, VirtioInput tablet) {
        return new VirtioInputSink(keyboard, tablet);
    }

    public InputProfile profile() {
        return profile;
    }

    @Override
    public int deviceType() {
        return DEVICE_TYPE;
    }

    @Override
    public int pciClassCode() {
        return 0x09_80_00; // input device controller, other
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
        return 0;
    }

    @Override
    public int configSize() {
        return CONFIG_SIZE;
    }

    /** Unknown select/subsel pairs answer size 0 and a zero union (§5.8.6.1). */
    @Override
    public void readConfig(int offset, byte[] dst) {
        int sel;
        int sub;
        synchronized (this) {
            sel = select;
            sub = subsel;
        }
        byte[] answer = answers.getOrDefault(sel << 8 | sub, NO_ANSWER);
        byte[] all = new byte[CONFIG_SIZE];
        all[0] = (byte) sel;
        all[1] = (byte) sub;
        all[2] = (byte) answer.length;
        System.arraycopy(answer, 0, all, 8, answer.length);
        System.arraycopy(all, offset, dst, 0, dst.length);
    }

    /** Only {@code select} and {@code subsel} are the driver's to write (§5.8.5); the rest is read-only. */
    @Override
    public synchronized void writeConfig(int offset, byte[] src) {
        for (int i = 0; i < src.length; i++) {
            if (offset + i == 0) {
                select = src[i] & 0xff;
            } else if (offset + i == 1) {
                subsel = src[i] & 0xff;
            }
        }
    }

    @Override
    public void activate(VirtioContext ctx) {
        context = ctx;
    }

    /**
     * Queues one group of host events (without the SYN_REPORT, which is added) for the guest
     * and wakes the I/O thread. Any thread; never blocks. Events of types or codes this device
     * does not announce are left out (the guest's input core would drop them).
     *
     * @throws IllegalArgumentException for {@link PendingEvents#MAX_GROUP} or more events, or a
     *                                  key value other than 0 (up) or 1 (down)
     */
    public void offer(long... group) {
        if (group.length >= PendingEvents.MAX_GROUP) {
            throw new IllegalArgumentException("input event group of " + group.length + " events");
        }
        long[] kept = new long[group.length];
        int n = 0;
        for (long e : group) {
            if (profile.supports(type(e), code(e)) && type(e) != EV_SYN) {
                kept[n++] = e;
            }
        }
        if (n > 0 && pending.offer(java.util.Arrays.copyOf(kept, n))) {
            VirtioContext ctx = context;
            if (ctx != null) {
                ctx.kick(EVENTQ);
            }
        }
    }

    @Override
    public void queueNotified(int index) throws VirtqueueException {
        VirtioContext ctx = context;
        if (ctx == null) {
            return;
        }
        if (index == EVENTQ) {
            // The gate leaves buffers on the ring while nothing is pending; offer() kicks again.
            ctx.drain(EVENTQ, c -> pending.hasNext(), this::deliver);
        } else if (index == STATUSQ) {
            ctx.drain(STATUSQ, this::status);
        }
    }

    private int deliver(DescriptorChain c) {
        if (c.writableLength() < EVENT_SIZE) {
            badBuffers++;
            return 0;
        }
        // The gate saw an event; clients only add (an overflow leaves at least the new group),
        // and resets and restores run under the device lock, not during a drain.
        long e = pending.next();
        eventView.putShort(0, (short) type(e)).putShort(2, (short) code(e)).putInt(4, value(e));
        c.write(0, eventBytes, 0, EVENT_SIZE);
        return EVENT_SIZE;
    }

    /** A status event (§5.8.6.1): EV_LED updates the LED state; anything else is read and ignored. */
    private int status(DescriptorChain c) {
        if (c.readableLength() < EVENT_SIZE) {
            badBuffers++;
            return 0;
        }
        c.read(0, statusBytes, 0, EVENT_SIZE);
        ByteBuffer v = statusView;
        int type = v.getShort(0) & 0xffff;
        int code = v.getShort(2) & 0xffff;
        int value = v.getInt(4);
        statusEvents++;
        if (type == EV_LED && profile.supports(EV_LED, code)) {
            int bit = 1 << code;
            leds = value != 0 ? leds | bit : leds & ~bit;
        }
        return 0;
    }

    @Override
    public void reset() {
        context = null;
        synchronized (this) {
            select = 0;
            subsel = 0;
        }
        leds = 0;
        pending.guestRestarted(new BitSet());
    }

    // ---- observability ----

    /** LEDs the driver last set, bit n for LED code n (LED_NUML, LED_CAPSL, LED_SCROLLL). */
    public int leds() {
        return leds;
    }

    /** Eventq buffers too short or read-only, and statusq buffers too short: returned unused. */
    public long badBuffers() {
        return badBuffers;
    }

    /** Status events read from the driver. */
    public long statusEvents() {
        return statusEvents;
    }

    /** Host events discarded because the guest posted no buffers for them. */
    public long droppedEvents() {
        return pending.droppedEvents();
    }

    /** Events waiting for guest buffers (bounded by the ring and one resynchronisation). */
    public int heldEvents() {
        return pending.held();
    }

    PendingEvents pending() {
        return pending;
    }

    // ---- snapshots ----

    /**
     * What the guest sees that the transport does not save: the selector it wrote (a snapshot
     * may fall between writing select and reading the answer) and the keys it was last told are
     * down, so that a restored VM is sent their release (the host that held them is gone) and
     * no key autorepeats forever. Events queued but not delivered are not saved: they belong to
     * the host of the moment (a client typing), and a restored guest is resynchronised instead.
     */
    public record State(int select, int subsel, List<Integer> guestKeysDown) {
        /** u8 select, u8 subsel, u16 count, u16 key codes. */
        public static final RecordCodec<State> CODEC = RecordCodec.of("virtio-input", State.class, (s, w) -> {
            w.u8(s.select).u8(s.subsel).u16(s.guestKeysDown.size());
            s.guestKeysDown.forEach(w::u16);
        }, r -> {
            int sel = r.u8("select");
            int sub = r.u8("subsel");
            int n = r.u16("keys down", 0, KEY_CNT);
            List<Integer> keys = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                keys.add(r.u16("key down", 0, KEY_MAX));
            }
            return new State(sel, sub, keys);
        });

        public State {
            if (select < 0 || select > 0xff || subsel < 0 || subsel > 0xff) {
                throw new IllegalArgumentException("selector " + select + "/" + subsel + " is not two bytes");
            }
            guestKeysDown = List.copyOf(guestKeysDown);
            if (guestKeysDown.size() > KEY_CNT || guestKeysDown.stream().anyMatch(k -> k < 0 || k > KEY_MAX)
                    || guestKeysDown.stream().distinct().count() != guestKeysDown.size()) {
                throw new IllegalArgumentException("keys down " + guestKeysDown + " out of range or repeated");
            }
        }
    }

    @Override
    public State save() {
        int sel;
        int sub;
        synchronized (this) {
            sel = select;
            sub = subsel;
        }
        return new State(sel, sub, pending.guestKeys().stream().boxed().toList());
    }

    @Override
    public void restoreState(Record state, boolean active) {
        State s = VirtioDevice.stateOf(state, State.class, "virtio-input");
        synchronized (this) {
            select = s.select();
            subsel = s.subsel();
        }
        BitSet down = new BitSet(KEY_CNT);
        s.guestKeysDown().forEach(down::set);
        pending.guestRestarted(down);
        VirtioContext ctx = active ? context : null;
        if (ctx != null) {
            ctx.kick(EVENTQ);
        }
    }

    @Override
    public void close() {
        context = null;
    }
}
