package io.jkvm.config;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What this host allows a VM: vCPUs per VM (from KVM) and physical memory (from /proc/meminfo). */
public record HostLimits(int maxVcpus, long hostMemoryBytes) {
    /**
     * The most vCPUs any x86 KVM allows per VM (KVM_MAX_VCPUS is at most 4096): the bound used to
     * check a configuration before the host's own KVM has been asked, so that a bad setting is
     * reported as such even on a host without KVM.
     */
    public static final int ANY_HOST_VCPUS = 4096;

    /** Limits for checking a configuration before the host's KVM is consulted. */
    public static HostLimits beforeKvm() {
        return new HostLimits(ANY_HOST_VCPUS, hostMemory());
    }

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
