package io.jkvm.mmds;

import io.jkvm.snapshot.RecordCodec;

import java.util.ArrayList;
import java.util.List;

/**
 * The MMDS's part of a snapshot, as Firecracker persists it: the address, the version, IMDS
 * compatibility and which interfaces answer (by {@code iface_id} and TAP device). The document
 * is not saved (a clone gets its own), so a restored VM's store is empty until a PUT.
 *
 * <pre>
 * i32 address (link-local), u8 version (0 V1, 1 V2), u8 imds_compat,
 * u8 interface count (1..31), per interface {string iface_id (<= 64), string TAP name (<= 15)}
 * </pre>
 */
public record MmdsState(int address, MmdsVersion version, boolean imdsCompat, List<String> interfaces, List<String> taps) {
    public static final String NAME = "mmds";
    static final int MAX_INTERFACES = 31;
    static final int MAX_ID = 64;
    static final int MAX_TAP = 15;

    public static final RecordCodec<MmdsState> CODEC = RecordCodec.of("mmds", MmdsState.class, (s, w) -> {
        w.i32(s.address).u8(s.version.ordinal()).bool(s.imdsCompat).u8(s.interfaces.size());
        for (int i = 0; i < s.interfaces.size(); i++) {
            w.string(s.interfaces.get(i)).string(s.taps.get(i));
        }
    }, r -> {
        int address = r.i32("MMDS address");
        int version = r.u8("MMDS version", 0, MmdsVersion.values().length - 1);
        boolean compat = r.bool("imds_compat");
        int n = r.u8("MMDS interface count", 1, MAX_INTERFACES);
        List<String> ids = new ArrayList<>();
        List<String> taps = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ids.add(r.string("MMDS iface_id", MAX_ID));
            taps.add(r.string("MMDS TAP name", MAX_TAP));
        }
        try {
            return new MmdsState(address, MmdsVersion.values()[version], compat, ids, taps);
        } catch (IllegalArgumentException e) {
            throw r.fail(e.getMessage());
        }
    });

    public MmdsState {
        interfaces = List.copyOf(interfaces);
        taps = List.copyOf(taps);
        java.util.Objects.requireNonNull(version, "version");
        if (interfaces.isEmpty() || interfaces.size() != taps.size() || interfaces.size() > MAX_INTERFACES) {
            throw new IllegalArgumentException("MMDS interfaces: 1.." + MAX_INTERFACES + ", one TAP each");
        }
        LinkLocal.parse(LinkLocal.format(address)); // refuses an address the API would refuse
    }

    /** The binding this state describes, over {@code store} (which takes the version and compatibility). */
    public MmdsBinding bindTo(MmdsStore store) {
        store.configure(version, imdsCompat);
        java.util.Map<String, String> byTap = new java.util.LinkedHashMap<>();
        for (int i = 0; i < taps.size(); i++) {
            byTap.put(taps.get(i), interfaces.get(i));
        }
        return new MmdsBinding(address, byTap, store);
    }
}
