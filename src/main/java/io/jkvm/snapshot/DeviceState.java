package io.jkvm.snapshot;

import java.util.Arrays;

/**
 * The saved state of one device as the containers carry it (a snapshot file's "device/ID"
 * section, a migration stream's DEVICE record): the device's id, unique within the machine
 * (e.g. {@code "serial0"}, {@code "drive/rootfs"}), and its encoding by {@link DeviceCodecs}.
 * The container only bounds and authenticates the bytes; {@link DeviceCodecs#decode} turns
 * them into the device's state record.
 */
public interface DeviceState {
    /** Longest accepted device name, in UTF-8 bytes. */
    int MAX_NAME = 64;
    /** Largest accepted device state. */
    int MAX_BYTES = 16 << 20;

    String name();

    byte[] bytes();

    /** {@code bytes().length}, without the copy. */
    default int size() {
        return bytes().length;
    }

    static DeviceState of(String name, byte[] bytes) {
        return new Blob(name, bytes);
    }

    /** The plain implementation used for restored states. */
    record Blob(String name, byte[] bytes) implements DeviceState {
        public Blob {
            if (name == null || name.isEmpty() || name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > MAX_NAME
                    || !name.matches("[\\x21-\\x7e]+")) {
                throw new IllegalArgumentException("device state name must be 1-" + MAX_NAME
                        + " printable ASCII characters without spaces: " + name);
            }
            if (bytes.length > MAX_BYTES) {
                throw new IllegalArgumentException("device state " + name + " is " + bytes.length + " bytes, limit " + MAX_BYTES);
            }
            bytes = bytes.clone();
        }

        @Override
        public byte[] bytes() {
            return bytes.clone();
        }

        @Override
        public int size() {
            return bytes.length;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Blob b && name.equals(b.name) && Arrays.equals(bytes, b.bytes);
        }

        @Override
        public int hashCode() {
            return name.hashCode() * 31 + Arrays.hashCode(bytes);
        }
    }
}
