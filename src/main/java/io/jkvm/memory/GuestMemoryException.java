package io.jkvm.memory;

/** An access to a guest-physical range that is not entirely backed by guest RAM. */
public final class GuestMemoryException extends RuntimeException {
    private final long address;
    private final long length;

    public GuestMemoryException(long address, long length) {
        super(String.format("guest-physical range [0x%x, +0x%x) is not guest RAM", address, length));
        this.address = address;
        this.length = length;
    }

    public long address() {
        return address;
    }

    public long length() {
        return length;
    }
}
