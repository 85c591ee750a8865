package io.jkvm.vmm;

import io.jkvm.device.BusDevice;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Per-device access counters (requests and bytes, split into reads and writes), kept by device
 * name so they add up across guest reboots, when the machine and its device instances are new.
 * Counting is a few uncontended adds on the vCPU thread: cheap next to an exit's cost.
 */
public final class DeviceCounters {
    /** One device's totals at some instant. */
    public record Snapshot(long reads, long writes, long readBytes, long writeBytes) {}

    private static final class Counters {
        final LongAdder reads = new LongAdder();
        final LongAdder writes = new LongAdder();
        final LongAdder readBytes = new LongAdder();
        final LongAdder writeBytes = new LongAdder();
    }

    private final Map<String, Counters> byName = new ConcurrentHashMap<>();

    /** Wraps {@code device} so that its accesses count under {@code name}. */
    public BusDevice counting(String name, BusDevice device) {
        Counters c = byName.computeIfAbsent(name, n -> new Counters());
        return new BusDevice() {
            @Override
            public long read(long offset, int size) {
                c.reads.increment();
                c.readBytes.add(size);
                return device.read(offset, size);
            }

            @Override
            public void write(long offset, int size, long value) {
                c.writes.increment();
                c.writeBytes.add(size);
                device.write(offset, size, value);
            }
        };
    }

    /** Totals per device name, sorted by name. */
    public Map<String, Snapshot> snapshot() {
        Map<String, Snapshot> out = new TreeMap<>();
        byName.forEach((name, c) -> out.put(name,
                new Snapshot(c.reads.sum(), c.writes.sum(), c.readBytes.sum(), c.writeBytes.sum())));
        return out;
    }
}
