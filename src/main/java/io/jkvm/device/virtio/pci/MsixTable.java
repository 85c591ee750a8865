package io.jkvm.device.virtio.pci;

import io.jkvm.device.msi.MsiVector;

import java.util.List;

/**
 * MSI-X table, pending-bit array and masking (PCI Local Bus 3.0 §6.8.2).
 *
 * <p>Table entries are 16 bytes: message address (low, high dwords), message data, vector
 * control (bit 0 = mask; set at reset, §6.8.2.9). A vector signalled while MSI-X is enabled
 * but the function or the vector is masked sets its pending bit instead; clearing the mask
 * delivers it and clears the bit (§6.8.2.8-9). The message is pushed to the {@link MsiVector}
 * (for KVM: a GSI route update) whenever an unmasked entry's message changes, so firing stays
 * one eventfd write. Accesses are dword or qword, naturally aligned; others read 0 and are
 * dropped (§6.8.2: software must use aligned full dword or qword accesses).
 *
 * <p>Thread-safe: the guest programs it from vCPU threads while I/O threads signal.
 */
public final class MsixTable {
    public static final int ENTRY_SIZE = 16;

    private final int size;
    private final List<MsiVector> vectors;
    private final long[] address;
    private final int[] data;
    private final boolean[] masked;
    private final boolean[] pending;
    private final long[] routedAddress;
    private final int[] routedData;
    private final boolean[] routed;
    private boolean enabled;
    private boolean functionMasked;

    public MsixTable(List<MsiVector> vectors) {
        this.size = vectors.size();
        if (size < 1 || size > 2048) {
            throw new IllegalArgumentException("MSI-X table size must be 1..2048");
        }
        this.vectors = List.copyOf(vectors);
        address = new long[size];
        data = new int[size];
        masked = new boolean[size];
        pending = new boolean[size];
        routedAddress = new long[size];
        routedData = new int[size];
        routed = new boolean[size];
        reset();
    }

    public int size() {
        return size;
    }

    /** Bytes of the table and of the PBA (qword granular). */
    public int tableBytes() {
        return size * ENTRY_SIZE;
    }

    public int pbaBytes() {
        return ((size + 63) / 64) * 8;
    }

    public synchronized void reset() {
        for (int i = 0; i < size; i++) {
            address[i] = 0;
            data[i] = 0;
            masked[i] = true;
            pending[i] = false;
        }
        enabled = false;
        functionMasked = false;
    }

    /** Everything guest-visible (snapshots): per-vector message, mask and pending bit, plus Message Control. */
    public record State(long[] address, int[] data, boolean[] masked, boolean[] pending, boolean enabled,
            boolean functionMasked) {
        public State {
            int n = address.length;
            if (data.length != n || masked.length != n || pending.length != n) {
                throw new IllegalArgumentException("MSI-X state arrays differ in length");
            }
            address = address.clone();
            data = data.clone();
            masked = masked.clone();
            pending = pending.clone();
        }

        public int size() {
            return address.length;
        }
    }

    public synchronized State state() {
        return new State(address, data, masked, pending, enabled, functionMasked);
    }

    /**
     * Restores a {@link #state()} of a table of the same size, then re-programs the GSI route
     * of every unmasked vector (KVM_SET_GSI_ROUTING through the {@link MsiVector}s) and delivers
     * what is pending and deliverable, as a guest unmask would (§6.8.2.9).
     */
    public synchronized void restore(State s) {
        if (s.size() != size) {
            throw new IllegalArgumentException("MSI-X table has " + size + " vectors, the saved state " + s.size());
        }
        System.arraycopy(s.address(), 0, address, 0, size);
        System.arraycopy(s.data(), 0, data, 0, size);
        System.arraycopy(s.masked(), 0, masked, 0, size);
        System.arraycopy(s.pending(), 0, pending, 0, size);
        enabled = s.enabled();
        functionMasked = s.functionMasked();
        for (int v = 0; v < size; v++) {
            if (!masked[v]) {
                route(v);
            }
        }
        deliverPending();
    }

    public synchronized boolean enabled() {
        return enabled;
    }

    /** Message Control's MSI-X Enable and Function Mask bits changed (config write). */
    public synchronized void setControl(boolean enable, boolean functionMask) {
        enabled = enable;
        functionMasked = functionMask;
        deliverPending();
    }

    /** Signals {@code vector}; returns false if MSI-X is disabled (the caller uses INTx). */
    public synchronized boolean signal(int vector) {
        if (!enabled) {
            return false;
        }
        if (vector < 0 || vector >= size) {
            return true; // NO_VECTOR or out of range: no interrupt (virtio 1.2 §4.1.5.1.2)
        }
        if (functionMasked || masked[vector]) {
            pending[vector] = true;
        } else {
            fire(vector);
        }
        return true;
    }

    public synchronized boolean isPending(int vector) {
        return vector >= 0 && vector < size && pending[vector];
    }

    public synchronized boolean isMasked(int vector) {
        return vector >= 0 && vector < size && (functionMasked || masked[vector]);
    }

    public synchronized long readTable(long offset, int len) {
        if (!aligned(offset, len) || offset + len > tableBytes()) {
            return 0;
        }
        if (len == 8) {
            return (readDword(offset) & 0xffff_ffffL) | ((long) readDword(offset + 4) << 32);
        }
        return readDword(offset) & 0xffff_ffffL;
    }

    public synchronized void writeTable(long offset, int len, long value) {
        if (!aligned(offset, len) || offset + len > tableBytes()) {
            return;
        }
        writeDword(offset, (int) value);
        if (len == 8) {
            writeDword(offset + 4, (int) (value >>> 32));
        }
    }

    /** PBA reads; writes are ignored (read-only, §6.8.2.10). */
    public synchronized long readPba(long offset, int len) {
        if (!aligned(offset, len) || offset + len > pbaBytes()) {
            return 0;
        }
        long v = 0;
        for (int bit = 0; bit < len * 8; bit++) {
            int vec = (int) (offset * 8 + bit);
            if (vec < size && pending[vec]) {
                v |= 1L << bit;
            }
        }
        return v;
    }

    private static boolean aligned(long offset, int len) {
        return (len == 4 || len == 8) && offset >= 0 && offset % len == 0;
    }

    private int readDword(long offset) {
        int v = (int) (offset / ENTRY_SIZE);
        return switch ((int) (offset % ENTRY_SIZE)) {
            case 0 -> (int) address[v];
            case 4 -> (int) (address[v] >>> 32);
            case 8 -> data[v];
            default -> masked[v] ? 1 : 0;
        };
    }

    private void writeDword(long offset, int value) {
        int v = (int) (offset / ENTRY_SIZE);
        switch ((int) (offset % ENTRY_SIZE)) {
            case 0 -> address[v] = (address[v] & 0xffff_ffff_0000_0000L) | (value & 0xffff_ffffL);
            case 4 -> address[v] = (address[v] & 0xffff_ffffL) | ((long) value << 32);
            case 8 -> data[v] = value;
            default -> masked[v] = (value & 1) != 0; // other vector-control bits are reserved
        }
        if (!masked[v]) {
            route(v);
            if (pending[v] && enabled && !functionMasked) {
                pending[v] = false;
                fire(v);
            }
        }
    }

    private void deliverPending() {
        if (!enabled || functionMasked) {
            return;
        }
        for (int v = 0; v < size; v++) {
            if (!masked[v]) {
                route(v);
                if (pending[v]) {
                    pending[v] = false;
                    fire(v);
                }
            }
        }
    }

    private void route(int v) {
        if (!routed[v] || routedAddress[v] != address[v] || routedData[v] != data[v]) {
            vectors.get(v).setMessage(address[v], data[v]);
            routed[v] = true;
            routedAddress[v] = address[v];
            routedData[v] = data[v];
        }
    }

    private void fire(int v) {
        route(v);
        vectors.get(v).fire();
    }
}
