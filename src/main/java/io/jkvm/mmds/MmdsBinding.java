package io.jkvm.mmds;

import java.util.Objects;
import java.util.Set;

/**
 * Where the MMDS answers: its IPv4 address and the TAP devices (by name) whose virtio-net
 * interfaces intercept frames for it, each with a {@link MmdsStack} of its own over the one
 * {@code store}.
 */
public record MmdsBinding(int address, Set<String> taps, MmdsStore store) {
    public MmdsBinding {
        taps = Set.copyOf(taps);
        Objects.requireNonNull(store, "store");
    }

    /** A new stack for the interface on {@code tap}, or null when the MMDS is not bound to it. */
    public MmdsStack stackFor(String tap) {
        return taps.contains(tap) ? new MmdsStack(address, store) : null;
    }
}
