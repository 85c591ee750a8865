package io.jkvm.memory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The host's pool of 2 MiB hugetlb pages as /proc/meminfo reports it (HugePages_Free,
 * HugePages_Rsvd, Hugepagesize; proc(5)): whether a guest of a given size fits before anything is
 * mapped, so a short pool is one clear line instead of a failed boot.
 */
public final class HugePagePool {
    private HugePagePool() {}

    /** Why {@code ramBytes} of guest RAM cannot come from the pool described by {@code meminfo}, or null if it can. */
    public static String shortfall(String meminfo, long ramBytes) {
        long free = field(meminfo, "HugePages_Free:");
        long reserved = field(meminfo, "HugePages_Rsvd:");
        long sizeKb = field(meminfo, "Hugepagesize:");
        if (sizeKb != RamBacking.HUGE_PAGE >> 10) {
            return "the host's default huge page size is " + (sizeKb < 0 ? "unknown" : sizeKb + " KiB") + ", not 2048 KiB";
        }
        long need = (ramBytes + RamBacking.HUGE_PAGE - 1) / RamBacking.HUGE_PAGE;
        long available = Math.max(0, free - Math.max(0, reserved));
        if (available < need) {
            return "the host's hugetlb pool has " + available + " free 2 MiB pages and the guest needs " + need
                    + " (add them with: echo " + (need - available) + " more to /proc/sys/vm/nr_hugepages, e.g. sysctl"
                    + " vm.nr_hugepages=<current + " + (need - available) + ">)";
        }
        return null;
    }

    /** {@link #shortfall(String, long)} for this host now. */
    public static String shortfall(long ramBytes) {
        try {
            return shortfall(Files.readString(Path.of("/proc/meminfo")), ramBytes);
        } catch (IOException e) {
            return "cannot read /proc/meminfo: " + e.getMessage();
        }
    }

    private static long field(String meminfo, String name) {
        for (String line : meminfo.split("\n")) {
            if (line.startsWith(name)) {
                String[] w = line.substring(name.length()).trim().split("\\s+");
                try {
                    return Long.parseLong(w[0]);
                } catch (NumberFormatException e) {
                    return -1;
                }
            }
        }
        return -1;
    }
}
