package io.jkvm.daemon;

import com.fasterxml.jackson.annotation.JsonProperty;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * How a running VMM is confined, as the kernel sees it (read from /proc, not from what was
 * asked): what {@code jkvm vm show} reports of each running VM. The Landlock ruleset is not
 * visible there; the VMM's {@code confined} log event gives its rule count.
 *
 * @param uid            the VMM's effective user id
 * @param gid            its effective group id
 * @param seccomp        "off", "strict" or "filter" (proc(5), /proc/PID/status Seccomp)
 * @param seccompFilters how many filters its main thread has (Seccomp_filters, Linux 5.9+; null before)
 * @param vcpuSeccompFilters the fewest filters any of its vCPU threads ("fc_vcpu N") has: one more
 *        than the process's when each installed its own (io.jkvm.isolation.VcpuSeccompFilter);
 *        null without vCPU threads or before Linux 5.9
 * @param noNewPrivs     whether no_new_privs is set
 * @param capabilities   its effective capability set, as the kernel prints it (hex)
 * @param cgroups        its cgroups, one "controllers:path" per hierarchy ("0::/path" for v2)
 * @param ownNamespaces  the namespaces it does not share with the daemon (mnt, net, pid...)
 * @param usage          its memory and pids limits and current use from those cgroups, by file
 *                       name (io.jkvm.resources.CgroupUsage)
 */
public record VmConfinement(
        @JsonProperty("uid") int uid,
        @JsonProperty("gid") int gid,
        @JsonProperty("seccomp") String seccomp,
        @JsonProperty("seccomp_filters") Integer seccompFilters,
        @JsonProperty("vcpu_seccomp_filters") Integer vcpuSeccompFilters,
        @JsonProperty("no_new_privs") boolean noNewPrivs,
        @JsonProperty("capabilities") String capabilities,
        @JsonProperty("cgroups") List<String> cgroups,
        @JsonProperty("own_namespaces") List<String> ownNamespaces,
        @JsonProperty("usage") java.util.Map<String, String> usage) {
    private static final List<String> NAMESPACES = List.of("mnt", "net", "pid", "uts", "ipc", "user", "cgroup");

    public VmConfinement {
        cgroups = List.copyOf(cgroups);
        ownNamespaces = List.copyOf(ownNamespaces);
        usage = usage == null ? java.util.Map.of() : java.util.Collections.unmodifiableMap(new java.util.TreeMap<>(usage));
    }

    /** Process {@code pid}'s confinement; null when it is gone (or its /proc entry cannot be read). */
    public static VmConfinement of(long pid) {
        Path proc = Path.of("/proc", Long.toString(pid));
        try {
            List<String> status = Files.readAllLines(proc.resolve("status"));
            List<String> cgroups = new ArrayList<>();
            List<String> procCgroup = Files.readAllLines(proc.resolve("cgroup"));
            for (String line : procCgroup) {
                int colon = line.indexOf(':');
                if (colon > 0) {
                    cgroups.add(line.substring(colon + 1)); // without the hierarchy number
                }
            }
            List<String> own = new ArrayList<>();
            for (String ns : NAMESPACES) {
                Path mine = Path.of("/proc/self/ns", ns);
                Path its = proc.resolve("ns").resolve(ns);
                if (Files.exists(mine) && Files.exists(its) && !Files.readSymbolicLink(mine).equals(Files.readSymbolicLink(its))) {
                    own.add(ns);
                }
            }
            return new VmConfinement(Integer.parseInt(field(status, "Uid", 1)), Integer.parseInt(field(status, "Gid", 1)),
                    switch (field(status, "Seccomp", 0)) {
                        case "0" -> "off";
                        case "1" -> "strict";
                        default -> "filter";
                    },
                    optionalInt(status, "Seccomp_filters"), vcpuFilters(proc),
                    field(status, "NoNewPrivs", 0).equals("1"), field(status, "CapEff", 0), cgroups, own,
                    io.jkvm.resources.CgroupUsage.of(procCgroup));
        } catch (IOException | RuntimeException gone) {
            return null; // it ended while being read, or this kernel lacks a field: nothing to report
        }
    }

    /** The status line {@code name:}'s number, or null if this kernel does not print it. */
    private static Integer optionalInt(List<String> status, String name) {
        for (String line : status) {
            if (line.startsWith(name + ":")) {
                return Integer.valueOf(line.substring(name.length() + 1).strip());
            }
        }
        return null;
    }

    /** The fewest seccomp filters of the process's vCPU threads, or null (none, or no count). */
    private static Integer vcpuFilters(Path proc) throws IOException {
        Integer fewest = null;
        try (var tasks = Files.newDirectoryStream(proc.resolve("task"))) {
            for (Path task : tasks) {
                try {
                    if (!Files.readString(task.resolve("comm")).startsWith(io.jkvm.vmm.Machine.VCPU_THREAD_PREFIX)) {
                        continue;
                    }
                    Integer n = optionalInt(Files.readAllLines(task.resolve("status")), "Seccomp_filters");
                    if (n != null && (fewest == null || n < fewest)) {
                        fewest = n;
                    }
                } catch (IOException threadGone) {
                    // that thread ended while being read
                }
            }
        }
        return fewest;
    }

    /** Word {@code index} of the status line {@code name:} (Uid's second word is the effective id). */
    private static String field(List<String> status, String name, int index) {
        for (String line : status) {
            if (line.startsWith(name + ":")) {
                return line.substring(name.length() + 1).strip().split("\\s+")[index];
            }
        }
        throw new IllegalStateException("no " + name + " in /proc status");
    }
}
