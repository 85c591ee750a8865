package io.jkvm.snapshot;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The device section's format: the one place its version lives, and the registry of every
 * state record's {@link RecordCodec}. A {@link DeviceState} (the container's unit: device id
 * plus bytes, in snapshot files and migration streams alike) holds
 * <pre>
 * u8 format version ({@link #FORMAT_VERSION}), string kind, the record's fields
 * </pre>
 * and a nested record ({@link StateWriter#nested}) is its kind followed by its fields. A state of
 * another format version is refused naming both versions: snapshots written by an older jkvm
 * cannot be read (boot the VM again and take a new snapshot).
 */
public final class DeviceCodecs {
    /**
     * Version of every device-state encoding together. Bump it whenever any registered codec's
     * encoding changes. 1 was the per-device encodings with their own version bytes and states
     * matched by slot position ("virtio0"); 2 keys states by device id and tags them by kind; 3
     * adds the disks' and network interfaces' rate limits to {@code vm_config}.
     */
    public static final int FORMAT_VERSION = 3;

    /**
     * Deepest nesting of records (a device state inside its transport's): a hostile state
     * nesting transports inside transports would otherwise recurse as deep as its bytes allow.
     */
    static final int MAX_DEPTH = 2;

    private final Map<String, RecordCodec<?>> byKind = new LinkedHashMap<>();
    private final Map<Class<?>, RecordCodec<?>> byType = new LinkedHashMap<>();

    public DeviceCodecs(List<RecordCodec<?>> codecs) {
        for (RecordCodec<?> c : codecs) {
            if (byKind.put(c.kind(), c) != null || byType.put(c.type(), c) != null) {
                throw new IllegalArgumentException("two codecs for kind " + c.kind() + " or type " + c.type().getName());
            }
        }
    }

    /** The state of device {@code id} in the section's format. */
    public DeviceState encode(String id, Record state) {
        StateWriter w = new StateWriter(this).u8(FORMAT_VERSION);
        writeNested(w, state);
        return DeviceState.of(id, w.toByteArray());
    }

    /**
     * Decodes device {@code d.name()}'s state, which must be a {@code type}. Refuses with a
     * {@link SnapshotException} naming the device and field for anything malformed or out of
     * range, and with a {@link DeviceMismatchException} for a state of another kind.
     */
    public <S extends Record> S decode(DeviceState d, Class<S> type) {
        byte[] b = d.bytes();
        BoundedReader r = new BoundedReader(b, d.name(), this);
        int version = r.u8("format version");
        if (version != FORMAT_VERSION) {
            throw r.fail("device state format version " + version + ", this jkvm reads version " + FORMAT_VERSION
                    + " (a snapshot of an older jkvm: boot the VM and take a new snapshot)");
        }
        S s = readNested(r, type, "state");
        r.expectEnd();
        return s;
    }

    void writeNested(StateWriter w, Record state) {
        RecordCodec<?> c = byType.get(state.getClass());
        if (c == null) {
            throw new IllegalArgumentException("no codec registered for " + state.getClass().getName());
        }
        w.string(c.kind());
        c.write(state, w);
    }

    <S extends Record> S readNested(BoundedReader r, Class<S> type, String field) {
        if (r.depth() >= MAX_DEPTH) {
            throw r.fail(field + " nests records deeper than " + MAX_DEPTH);
        }
        String kind = r.string(field + " kind", RecordCodec.MAX_KIND);
        RecordCodec<?> c = byKind.get(kind);
        if (c == null) {
            throw r.fail(field + " kind '" + kind + "' is unknown to this jkvm");
        }
        if (!type.isAssignableFrom(c.type())) {
            RecordCodec<?> want = byType.get(type);
            throw new DeviceMismatchException(r.device(), "holds a " + kind + " " + field + ", expected "
                    + (want != null ? "a " + want.kind() : "a " + type.getSimpleName()));
        }
        r.enter();
        try {
            return type.cast(c.read(r));
        } catch (IllegalArgumentException e) {
            throw r.fail(e.getMessage());
        } finally {
            r.leave();
        }
    }
}
