package io.jkvm.net;

import io.jkvm.config.ConfigException;

import java.security.SecureRandom;
import java.util.HexFormat;

/** A 48-bit Ethernet address. */
public record MacAddress(byte[] bytes) {
    public MacAddress {
        if (bytes.length != 6) {
            throw new IllegalArgumentException("a MAC address has 6 bytes");
        }
        bytes = bytes.clone();
    }

    @Override
    public byte[] bytes() {
        return bytes.clone();
    }

    /** Parses {@code aa:bb:cc:dd:ee:ff}; multicast addresses are rejected (a NIC needs unicast). */
    public static MacAddress parse(String text) {
        String[] parts = text.split(":", -1);
        if (parts.length != 6) {
            throw new ConfigException("--net: field 'mac' must look like 52:54:00:12:34:56, not '" + text + "'");
        }
        byte[] b = new byte[6];
        for (int i = 0; i < 6; i++) {
            if (parts[i].length() != 2) {
                throw new ConfigException("--net: field 'mac' must look like 52:54:00:12:34:56, not '" + text + "'");
            }
            try {
                b[i] = (byte) Integer.parseInt(parts[i], 16);
            } catch (NumberFormatException e) {
                throw new ConfigException("--net: field 'mac' has a non-hex byte '" + parts[i] + "'");
            }
        }
        if ((b[0] & 1) != 0) {
            throw new ConfigException("--net: field 'mac' is a multicast address: " + text);
        }
        return new MacAddress(b);
    }

    /** A random locally administered unicast address (IEEE 802: bit 1 set, bit 0 clear). */
    public static MacAddress randomLocal() {
        byte[] b = new byte[6];
        new SecureRandom().nextBytes(b);
        b[0] = (byte) ((b[0] & 0xfc) | 0x02);
        return new MacAddress(b);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof MacAddress m && java.util.Arrays.equals(bytes, m.bytes);
    }

    @Override
    public int hashCode() {
        return java.util.Arrays.hashCode(bytes);
    }

    @Override
    public String toString() {
        return HexFormat.ofDelimiter(":").formatHex(bytes);
    }
}
