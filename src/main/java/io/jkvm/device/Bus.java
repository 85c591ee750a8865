package io.jkvm.device;

import java.util.concurrent.CopyOnWriteArrayList;

/** TEMPORARY minimal bus (replaced by the devices branch). */
public final class Bus {
    private record Entry(long base, long len, BusDevice dev) {}

    private final String name;
    private final CopyOnWriteArrayList<Entry> entries = new CopyOnWriteArrayList<>();

    public Bus(String name) {
        this.name = name;
    }

    public void register(long base, long length, BusDevice dev) {
        entries.add(new Entry(base, length, dev));
    }

    public long read(long addr, int size) {
        for (Entry e : entries) {
            if (addr >= e.base && addr + size <= e.base + e.len) {
                return e.dev.read(addr - e.base, size);
            }
        }
        return size == 8 ? -1L : (1L << (size * 8)) - 1;
    }

    public void write(long addr, int size, long value) {
        for (Entry e : entries) {
            if (addr >= e.base && addr + size <= e.base + e.len) {
                e.dev.write(addr - e.base, size, value);
                return;
            }
        }
    }
}
