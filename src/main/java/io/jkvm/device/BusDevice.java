package io.jkvm.device;

/**
 * A device that answers port I/O or MMIO accesses on a {@link Bus}.
 *
 * <p>Offsets are relative to the base the device was registered at. {@code size} is 1, 2, 4 or 8
 * bytes; values are little-endian and only the low {@code size * 8} bits are meaningful.
 * Every argument is guest-controlled: implementations bound-check and never throw for a
 * guest's sake (an unsupported access reads as all ones and writes are dropped).
 *
 * <p>Calls arrive on vCPU threads (possibly several at once) and must not block for long.
 */
public interface BusDevice {
    long read(long offset, int size);

    void write(long offset, int size, long value);
}
