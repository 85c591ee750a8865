package io.jkvm.vmm;

import io.jkvm.snapshot.DeviceMismatchException;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.SnapshotException;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * The device states of a snapshot or incoming migration, by device id, consumed as the devices
 * are built from them: every device takes exactly its own, and {@link #finish} refuses states
 * for devices this VM does not have.
 */
final class SavedDevices {
    private final Map<String, DeviceState> byId = new LinkedHashMap<>();
    private final Set<String> ignored;

    /** {@code ignored}: ids of records that are not device states (the configuration record). */
    SavedDevices(List<DeviceState> states, Set<String> ignored) {
        for (DeviceState d : states) {
            if (byId.put(d.name(), d) != null) {
                throw new SnapshotException("two device states are named " + d.name());
            }
        }
        this.ignored = Set.copyOf(ignored);
    }

    /** Device {@code id}'s state, decoded as a {@code type}; refused if missing or malformed. */
    <S extends Record> S take(String id, Class<S> type) {
        DeviceState d = byId.remove(id);
        if (d == null) {
            throw new SnapshotException("the snapshot has no state for device " + id);
        }
        return DeviceStateFormat.CODECS.decode(d, type);
    }

    /**
     * Builds device {@code id} from its state; a state the device refuses
     * (IllegalArgumentException from a restore) becomes a {@link DeviceMismatchException} naming it.
     */
    <S extends Record, D> D restore(String id, Class<S> type, Function<S, D> build) {
        S s = take(id, type);
        try {
            return build.apply(s);
        } catch (IllegalArgumentException e) {
            throw new DeviceMismatchException(id, e.getMessage(), e);
        }
    }

    /** Refuses states left over: the snapshot had devices this VM lacks. */
    void finish() {
        byId.keySet().removeAll(ignored);
        if (!byId.isEmpty()) {
            throw new SnapshotException("the snapshot has state for devices this VM lacks: " + byId.keySet());
        }
    }
}
