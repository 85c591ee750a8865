package io.jkvm.device.virtio;

/**
 * One guest buffer of a descriptor chain: {@code [gpa, gpa + length)}, already checked to lie
 * entirely inside guest RAM when the chain was parsed.
 */
public record GuestBuffer(long gpa, int length) {
    public GuestBuffer {
        if (length < 0) {
            throw new IllegalArgumentException("negative buffer length");
        }
    }
}
