package io.jkvm.snapshot;

import java.util.Objects;
import java.util.function.BiConsumer;
import java.util.function.Function;

/**
 * The binary form of one kind of state record, declared next to the record (in the device's
 * package) and registered in a {@link DeviceCodecs}. {@link #read} is given hostile bytes: it
 * bounds every count before allocating and checks every field, refusing through
 * {@link BoundedReader#fail} (a {@link SnapshotException} naming the device id and the field).
 * A record constructor's IllegalArgumentException is turned into such a refusal by the registry.
 *
 * @param kind a stable name of the encoding, 1-32 characters (e.g. "serial16550")
 */
public record RecordCodec<S extends Record>(String kind, Class<S> type, BiConsumer<S, StateWriter> writer,
        Function<BoundedReader, S> reader) {
    public static final int MAX_KIND = 32;

    public RecordCodec {
        Objects.requireNonNull(type);
        Objects.requireNonNull(writer);
        Objects.requireNonNull(reader);
        if (kind == null || kind.isEmpty() || kind.length() > MAX_KIND || !kind.matches("[a-z0-9_.-]+")) {
            throw new IllegalArgumentException("codec kind must be 1-" + MAX_KIND + " of [a-z0-9_.-]: " + kind);
        }
    }

    public static <S extends Record> RecordCodec<S> of(String kind, Class<S> type, BiConsumer<S, StateWriter> writer,
            Function<BoundedReader, S> reader) {
        return new RecordCodec<>(kind, type, writer, reader);
    }

    void write(Record state, StateWriter w) {
        writer.accept(type.cast(state), w);
    }

    S read(BoundedReader r) {
        return reader.apply(r);
    }
}
