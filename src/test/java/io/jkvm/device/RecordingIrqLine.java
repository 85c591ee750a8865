package io.jkvm.device;

import java.util.ArrayList;
import java.util.List;

/** Test double: records every level a device drives, in order. */
public final class RecordingIrqLine implements IrqLine {
    private final List<Boolean> levels = new ArrayList<>();

    @Override
    public synchronized void setLevel(boolean high) {
        levels.add(high);
    }

    public synchronized List<Boolean> levels() {
        return List.copyOf(levels);
    }

    public synchronized boolean level() {
        return !levels.isEmpty() && levels.get(levels.size() - 1);
    }

    public synchronized void clear() {
        levels.clear();
    }
}
