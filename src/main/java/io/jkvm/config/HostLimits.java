package io.jkvm.config;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What this host allows a VM: vCPUs per VM (from KVM) and physical memory (from /proc/meminfo). */
public record HostLimits(int maxVcpus, long hostMemoryBytes) {
    /** Reads MemTotal from /proc/meminfo; Long.MAX_VALUE if it cannot be read. */
    public static long hostMemory() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) {
                    String kb = line.substring(9).trim().split("\\s+")[0];
                    return Long.parseLong(kb) * 1024;
                }
            }
        } catch (IOException | NumberFormatException e) {
            // fall through
        }
        return Long.MAX_VALUE;
    }
}
