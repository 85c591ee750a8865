package io.jkvm.resources;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A process's memory and pids limits and current use, read from the cgroups it is in (what
 * {@code jkvm vm show} reports of a running VMM, issue 14: "limits and current usage"). v1: the
 * memory and pids hierarchies' files; v2: the unified cgroup's. Only files that exist are read,
 * each a short number (or "max"); nothing is reported for a controller the host does not mount.
 */
public final class CgroupUsage {
    private CgroupUsage() {}

    /** The v1 files read, per controller. */
    private static final Map<String, List<String>> V1 = Map.of(
            "memory", List.of("memory.usage_in_bytes", "memory.limit_in_bytes", "memory.max_usage_in_bytes"),
            "pids", List.of("pids.current", "pids.max"));
    /** The v2 files read. */
    private static final List<String> V2 = List.of("memory.current", "memory.max", "memory.peak", "pids.current", "pids.max");
    /** Longer than any of these files' one number; a longer one is not what it should be and is left out. */
    private static final int MAX_VALUE = 32;

    /**
     * File name to value for the process whose /proc/PID/cgroup lines are {@code procCgroup};
     * empty when it is in no such cgroup.
     */
    public static Map<String, String> of(List<String> procCgroup) {
        Map<String, String> out = new TreeMap<>();
        Map<String, Path> v1 = Cgroups.v1Mounts();
        for (Cgroups.Membership m : Cgroups.memberships(procCgroup)) {
            if (m.path().contains("..")) {
                continue; // outside the reader's cgroup namespace (proc(7)): not under the mount here
            }
            if (m.controllers().isEmpty()) {
                CgroupsV2.mountIfAny().ifPresent(mount -> read(mount.resolve(m.relative()), V2, out));
            }
            for (String c : m.controllers()) {
                if (V1.containsKey(c) && v1.containsKey(c)) {
                    read(v1.get(c).resolve(m.relative()), V1.get(c), out);
                }
            }
        }
        return out;
    }

    private static void read(Path dir, List<String> files, Map<String, String> out) {
        for (String name : files) {
            Path f = dir.resolve(name);
            if (!Files.isRegularFile(f)) {
                continue;
            }
            try {
                String v = Files.readString(f, StandardCharsets.US_ASCII).strip();
                if (!v.isEmpty() && v.length() <= MAX_VALUE && v.matches("[0-9]+|max")) {
                    out.put(name, v);
                }
            } catch (IOException | RuntimeException unreadable) {
                // gone meanwhile, or not ours to read: left out
            }
        }
    }
}
