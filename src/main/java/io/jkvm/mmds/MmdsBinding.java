package io.jkvm.mmds;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Where the MMDS answers: its IPv4 address and the TAP devices whose virtio-net interfaces
 * intercept frames for it (with the API's interface id of each), each with a {@link MmdsStack}
 * of its own over the one {@code store}.
 *
 * @param interfaces TAP device name to {@code iface_id}, in the order {@code PUT /mmds/config} named them
 */
public record MmdsBinding(int address, Map<String, String> interfaces, MmdsStore store) {
    public MmdsBinding {
        interfaces = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(interfaces));
        Objects.requireNonNull(store, "store");
    }

    public Set<String> taps() {
        return interfaces.keySet();
    }

    /** A new stack for the interface on {@code tap}, or null when the MMDS is not bound to it. */
    public MmdsStack stackFor(String tap) {
        return interfaces.containsKey(tap) ? new MmdsStack(address, store) : null;
    }

    /** What a snapshot records of it (the document itself is not recorded, as in Firecracker). */
    public MmdsState state() {
        return new MmdsState(address, store.version(), store.imdsCompat(), java.util.List.copyOf(interfaces.values()),
                java.util.List.copyOf(interfaces.keySet()));
    }
}
