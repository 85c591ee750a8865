package io.jkvm.device.virtio.input;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

import static io.jkvm.device.virtio.input.InputCodes.*;

/**
 * What one virtio-input device is (virtio 1.2 §5.8.4): its name, ids, event types and codes and
 * absolute axes, as the answers of its configuration space. The driver learns the device only
 * through these answers: it writes {@code select}/{@code subsel} and reads {@code size} and the
 * union (§5.8.5); Linux's driver asks for ID_NAME, ID_SERIAL, ID_DEVIDS, PROP_BITS, EV_BITS for
 * EV_REP, EV_KEY, EV_REL, EV_ABS, EV_MSC, EV_SW, EV_LED, EV_SND, then ABS_INFO for every axis set
 * in the EV_ABS bitmap. Whatever is not described here answers size 0 (§5.8.6.1: "the device
 * MUST set size to 0" when it has no information for that select/subsel).
 *
 * @param name     ID_NAME, at most 63 ASCII bytes (Linux copies at most 64 into a zeroed
 *                 64-byte array, so 63 keeps its terminator)
 * @param eventCodes the codes of each event type, by type (EV_KEY: key codes; EV_REP: REP_DELAY
 *                 and REP_PERIOD; EV_LED: the LEDs the driver may set through the status queue)
 * @param axes     the range of each absolute axis (each also an EV_ABS code)
 */
public record InputProfile(String name, DevIds ids, SortedMap<Integer, BitSet> eventCodes, SortedMap<Integer, AbsInfo> axes) {
    public static final int CFG_ID_NAME = 0x01;
    public static final int CFG_ID_SERIAL = 0x02;
    public static final int CFG_ID_DEVIDS = 0x03;
    public static final int CFG_PROP_BITS = 0x10;
    public static final int CFG_EV_BITS = 0x11;
    public static final int CFG_ABS_INFO = 0x12;
    /** The union of {@code virtio_input_config} is 128 bytes: no answer may be longer. */
    public static final int MAX_ANSWER = 128;
    /** The tablet's axis range, 0..32767 on both axes (a 15-bit range, as USB and virtio tablets use). */
    public static final int TABLET_MAX = 32767;

    /** {@code virtio_input_devids}: the ids Linux gives the input device (bus, vendor, product, version). */
    public record DevIds(int bustype, int vendor, int product, int version) {
        public DevIds {
            for (int v : new int[] {bustype, vendor, product, version}) {
                if (v < 0 || v > 0xffff) {
                    throw new IllegalArgumentException("device id " + v + " is not a u16");
                }
            }
        }
    }

    /** {@code virtio_input_absinfo} (min, max, fuzz, flat, res), as Linux's input_absinfo. */
    public record AbsInfo(int min, int max, int fuzz, int flat, int res) {
        public AbsInfo {
            if (min > max) {
                throw new IllegalArgumentException("axis min " + min + " > max " + max);
            }
        }
    }

    public InputProfile {
        if (name.isEmpty() || name.length() > 63 || !StandardCharsets.US_ASCII.newEncoder().canEncode(name)) {
            throw new IllegalArgumentException("input device name must be 1-63 ASCII characters: " + name);
        }
        SortedMap<Integer, BitSet> codes = new TreeMap<>();
        eventCodes.forEach((type, bits) -> {
            if (type <= EV_SYN || type > EV_MAX || bits.isEmpty() || bits.length() > MAX_ANSWER * 8) {
                throw new IllegalArgumentException("event type " + type + " with codes " + bits + " out of range");
            }
            codes.put(type, (BitSet) bits.clone());
        });
        BitSet abs = codes.getOrDefault(EV_ABS, new BitSet());
        if (!abs.equals(bitsOf(axes.keySet().stream().mapToInt(Integer::intValue).toArray()))) {
            throw new IllegalArgumentException("EV_ABS codes " + abs + " and axes " + axes.keySet() + " differ");
        }
        eventCodes = java.util.Collections.unmodifiableSortedMap(codes);
        axes = java.util.Collections.unmodifiableSortedMap(new TreeMap<>(axes));
    }

    /**
     * A keyboard: every ordinary key (KEY_ESC..KEY_MICMUTE), autorepeat (EV_REP, so Linux repeats
     * held keys itself: the host sends only down and up) and the three lock LEDs, which the
     * driver reports back through the status queue.
     */
    public static InputProfile keyboard() {
        BitSet keys = new BitSet();
        keys.set(KEY_ESC, KEY_MICMUTE + 1);
        SortedMap<Integer, BitSet> codes = new TreeMap<>();
        codes.put(EV_KEY, keys);
        codes.put(EV_REP, bitsOf(REP_DELAY, REP_PERIOD));
        codes.put(EV_LED, bitsOf(LED_NUML, LED_CAPSL, LED_SCROLLL));
        return new InputProfile("jkvm virtio keyboard", new DevIds(BUS_VIRTUAL, 0, 1, 1), codes, new TreeMap<>());
    }

    /**
     * An absolute pointer: ABS_X/ABS_Y over 0..{@link #TABLET_MAX}, three buttons and a wheel, and
     * no property bits. Without INPUT_PROP_DIRECT (which would say "the device surface is the
     * screen", a touchscreen, and makes userspace expect BTN_TOUCH) and without pen tools, udev
     * classifies absolute X/Y with mouse buttons as a pointer whose coordinates map onto the
     * screen: the USB-tablet convention, and what QEMU's virtio-tablet offers.
     */
    public static InputProfile tablet() {
        SortedMap<Integer, BitSet> codes = new TreeMap<>();
        codes.put(EV_KEY, bitsOf(BTN_LEFT, BTN_RIGHT, BTN_MIDDLE));
        codes.put(EV_REL, bitsOf(REL_WHEEL));
        codes.put(EV_ABS, bitsOf(ABS_X, ABS_Y));
        SortedMap<Integer, AbsInfo> axes = new TreeMap<>();
        axes.put(ABS_X, new AbsInfo(0, TABLET_MAX, 0, 0, 0));
        axes.put(ABS_Y, new AbsInfo(0, TABLET_MAX, 0, 0, 0));
        return new InputProfile("jkvm virtio tablet", new DevIds(BUS_VIRTUAL, 0, 3, 1), codes, axes);
    }

    /** The codes of each event type (copies: the profile stays as it was built). */
    @Override
    public SortedMap<Integer, BitSet> eventCodes() {
        SortedMap<Integer, BitSet> copy = new TreeMap<>();
        eventCodes.forEach((t, b) -> copy.put(t, (BitSet) b.clone()));
        return java.util.Collections.unmodifiableSortedMap(copy);
    }

    /** Whether events of {@code type} with {@code code} are announced (the guest's input core drops others). */
    public boolean supports(int type, int code) {
        if (type == EV_SYN) {
            return code == SYN_REPORT;
        }
        BitSet b = eventCodes.get(type);
        return b != null && code >= 0 && b.get(code);
    }

    /** The configuration answers, by {@code select << 8 | subsel}: built once, read-only afterwards. */
    Map<Integer, byte[]> answers() {
        Map<Integer, byte[]> a = new HashMap<>();
        a.put(CFG_ID_NAME << 8, name.getBytes(StandardCharsets.US_ASCII));
        // No ID_SERIAL: size 0, the serial stays empty.
        a.put(CFG_ID_DEVIDS << 8, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putShort((short) ids.bustype())
                .putShort((short) ids.vendor()).putShort((short) ids.product()).putShort((short) ids.version()).array());
        // No PROP_BITS (see tablet()): size 0.
        eventCodes.forEach((type, bits) -> a.put(CFG_EV_BITS << 8 | type, bits.toByteArray()));
        axes.forEach((axis, i) -> a.put(CFG_ABS_INFO << 8 | axis, ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN)
                .putInt(i.min()).putInt(i.max()).putInt(i.fuzz()).putInt(i.flat()).putInt(i.res()).array()));
        a.values().forEach(v -> {
            if (v.length > MAX_ANSWER) {
                throw new IllegalStateException("config answer of " + v.length + " bytes");
            }
        });
        return Map.copyOf(a);
    }

    static BitSet bitsOf(int... bits) {
        BitSet b = new BitSet();
        for (int i : bits) {
            b.set(i);
        }
        return b;
    }
}
