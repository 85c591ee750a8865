package io.jkvm.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Fields of one mapping of this process, from /proc/self/smaps (proc(5)): what the kernel holds behind it. */
public final class OwnMapping {
    private OwnMapping() {}

    /** {@code field} ("Rss", "AnonHugePages", ...) in KiB of the mapping that starts at {@code address}. */
    public static long kib(long address, String field) {
        String start = Long.toHexString(address) + "-";
        boolean inside = false;
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/smaps"))) {
                if (line.matches("^[0-9a-f]+-[0-9a-f]+ .*")) { // a mapping's header; its fields follow
                    inside = line.startsWith(start);
                } else if (inside && line.startsWith(field + ":")) {
                    return Long.parseLong(line.substring(field.length() + 1).replace("kB", "").trim());
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        throw new AssertionError("no " + field + " of a mapping at 0x" + Long.toHexString(address) + " in /proc/self/smaps");
    }
}
