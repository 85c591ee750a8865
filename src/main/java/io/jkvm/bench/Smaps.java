package io.jkvm.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code /proc/PID/smaps}, reduced to what the memory figures need: each mapping's size, PSS,
 * anonymous pages and name. Guest RAM is recognised as an anonymous or shared-anonymous mapping exactly the size of
 * guest RAM (jkvm and QEMU: a private anonymous mapping; a shared anonymous one shows as
 * {@code /dev/zero (deleted)}, QEMU's memfd backend as {@code /memfd:...}).
 */
public record Smaps(List<Mapping> mappings) {
    private static final Pattern HEADER = Pattern.compile(
            "^([0-9a-f]+)-([0-9a-f]+)\\s+(\\S+)\\s+\\S+\\s+\\S+\\s+\\S+\\s*(.*)$");
    private static final Pattern FIELD = Pattern.compile("^(\\w+):\\s+(\\d+) kB$");

    /** One mapping; sizes in KiB as the kernel reports them. */
    public record Mapping(long start, long end, String perms, String name, long sizeKb, long pssKb, long rssKb,
            long anonKb) {
        boolean anonymous() {
            return name.isEmpty() || name.startsWith("/dev/zero") || name.startsWith("/memfd:")
                    || name.startsWith("[anon");
        }
    }

    public Smaps {
        mappings = List.copyOf(mappings);
    }

    public static Smaps read(long pid) throws IOException {
        return parse(Files.readString(Path.of("/proc/" + pid + "/smaps")));
    }

    public static Smaps parse(String text) {
        List<Mapping> out = new ArrayList<>();
        long start = 0;
        long end = 0;
        String perms = null;
        String name = null;
        long size = 0;
        long pss = 0;
        long rss = 0;
        long anon = 0;
        for (String line : text.split("\n")) {
            Matcher h = HEADER.matcher(line);
            if (h.matches()) {
                if (perms != null) {
                    out.add(new Mapping(start, end, perms, name, size, pss, rss, anon));
                }
                start = Long.parseUnsignedLong(h.group(1), 16);
                end = Long.parseUnsignedLong(h.group(2), 16);
                perms = h.group(3);
                name = h.group(4).strip();
                size = pss = rss = anon = 0;
                continue;
            }
            Matcher f = FIELD.matcher(line);
            if (f.matches() && perms != null) {
                long v = Long.parseLong(f.group(2));
                switch (f.group(1)) {
                    case "Size" -> size = v;
                    case "Pss" -> pss = v;
                    case "Rss" -> rss = v;
                    case "Anonymous" -> anon = v;
                    default -> { }
                }
            }
        }
        if (perms != null) {
            out.add(new Mapping(start, end, perms, name, size, pss, rss, anon));
        }
        return new Smaps(out);
    }

    public long totalPssKb() {
        return mappings.stream().mapToLong(Mapping::pssKb).sum();
    }

    /** Anonymous pages (heap, stacks, malloc, copied-on-write), counted whole whoever else runs. */
    public long totalAnonKb() {
        return mappings.stream().mapToLong(Mapping::anonKb).sum();
    }

    private boolean isGuestRam(Mapping m, long ramBytes) {
        return m.anonymous() && m.sizeKb() == ramBytes >> 10;
    }

    /** PSS of the mappings that hold guest RAM of {@code ramBytes}. */
    public long guestRamPssKb(long ramBytes) {
        return mappings.stream().filter(m -> isGuestRam(m, ramBytes)).mapToLong(Mapping::pssKb).sum();
    }

    /**
     * The VMM's anonymous memory outside guest RAM. Unlike PSS it does not depend on which other
     * processes happen to map the same libraries (other JVMs, other QEMUs on a shared machine).
     */
    public long anonOverheadKb(long ramBytes) {
        return totalAnonKb()
                - mappings.stream().filter(m -> isGuestRam(m, ramBytes)).mapToLong(Mapping::anonKb).sum();
    }

    /** The VMM's own memory: everything but guest RAM. */
    public long overheadKb(long ramBytes) {
        return totalPssKb() - guestRamPssKb(ramBytes);
    }
}
