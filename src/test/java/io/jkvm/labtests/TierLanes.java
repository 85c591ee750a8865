package io.jkvm.labtests;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * How the direct-KVM tier is shared out between lab machines that run at once ({@link
 * KvmTierInLabTest}): each machine (a lane) has one emulated CPU, so each keeps one host core
 * busy, and the tier takes about the time of its longest lane instead of the sum of all. Classes
 * go whole to a lane (their tests share fixtures), longest first to the lane with the least work
 * so far. The weights are what each class took in the lab; a class missing here counts as {@link
 * #UNKNOWN_SECONDS}, so a new class costs balance, never a test.
 */
final class TierLanes {
    private TierLanes() {}

    /**
     * Seconds a class's tests took in a one-CPU lab machine, two lanes side by side (the sum of
     * its tests' times in the tier's log, one no-KVM run, November 2026). Classes under 5 s count
     * as {@link #UNKNOWN_SECONDS}.
     */
    static final Map<String, Integer> LAB_SECONDS = Map.ofEntries(
            Map.entry("DaemonDirectTest", 621),
            Map.entry("DaemonSnapshotDirectTest", 311),
            Map.entry("DaemonMigrateDirectTest", 188),
            Map.entry("MigrationDirectTest", 175),
            Map.entry("WebConsoleDirectTest", 144),
            Map.entry("MigrationApiDirectTest", 136),
            Map.entry("SnapshotDirectTest", 89),
            Map.entry("DaemonVmUidsDirectTest", 85),
            Map.entry("VmmApiDirectTest", 73),
            Map.entry("PostcopyDirectTest", 71),
            Map.entry("IncomingCommandDirectTest", 55),
            Map.entry("DiffSnapshotDirectTest", 48),
            Map.entry("StorageMigrationDirectTest", 38),
            Map.entry("VmIdentityDirectTest", 38),
            Map.entry("ExitRoundTripKvmTest", 36),
            Map.entry("SerialGuestTest", 15),
            Map.entry("MachinePlacementDirectTest", 14),
            Map.entry("LinuxVmVirtioMmioKvmTest", 13),
            Map.entry("MachineReportDirectTest", 9),
            Map.entry("MachineDirectTest", 8),
            Map.entry("VirtioSnapshotKvmTest", 7),
            Map.entry("LinuxVmBalloonKvmTest", 5),
            Map.entry("MachineThrottleDirectTest", 5));
    static final int UNKNOWN_SECONDS = 10;

    /** {@code classes} (fully qualified) in {@code lanes} groups of about equal weight; none is empty. */
    static List<List<String>> split(List<String> classes, int lanes, Map<String, Integer> seconds) {
        if (lanes < 1) {
            throw new IllegalArgumentException("lanes: at least 1, not " + lanes);
        }
        List<String> heaviestFirst = new ArrayList<>(classes);
        heaviestFirst.sort(Comparator.comparingInt((String c) -> weight(c, seconds)).reversed()
                .thenComparing(Comparator.naturalOrder()));
        int n = Math.max(1, Math.min(lanes, classes.size()));
        List<List<String>> out = new ArrayList<>();
        int[] load = new int[n];
        for (int i = 0; i < n; i++) {
            out.add(new ArrayList<>());
        }
        for (String c : heaviestFirst) {
            int lightest = 0;
            for (int i = 1; i < n; i++) {
                if (load[i] < load[lightest]) {
                    lightest = i;
                }
            }
            out.get(lightest).add(c);
            load[lightest] += weight(c, seconds);
        }
        return out.stream().map(List::copyOf).toList();
    }

    static int weight(String className, Map<String, Integer> seconds) {
        return seconds.getOrDefault(className.substring(className.lastIndexOf('.') + 1), UNKNOWN_SECONDS);
    }

    /** The regular expression (TierLauncher's {@code jkvm.tier.classes}) naming exactly these classes. */
    static String regex(List<String> classes) {
        return classes.stream().map(Pattern::quote).collect(Collectors.joining("|"));
    }

    /**
     * How many lanes: {@code requested} when given ({@code jkvm.tier.lanes}), else one per host
     * CPU, at most {@code MAX_LANES}, and only as many as the free memory holds at {@code
     * laneMib} each (what stays free is the host's and the other lane's business).
     */
    static int count(String requested, int hostCpus, long availableMib, int laneMib) {
        if (requested != null && !requested.isBlank()) {
            int n;
            try {
                n = Integer.parseInt(requested.strip());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("jkvm.tier.lanes: a number of lab machines (1-" + MAX_LANES
                        + "), not '" + requested + "'");
            }
            if (n < 1 || n > MAX_LANES) {
                throw new IllegalArgumentException("jkvm.tier.lanes: 1 to " + MAX_LANES + ", not " + n);
            }
            return n;
        }
        long byMemory = availableMib / (laneMib + 1024L);
        return (int) Math.max(1, Math.min(Math.min(hostCpus, MAX_LANES), byMemory));
    }

    static final int MAX_LANES = 4;
}
