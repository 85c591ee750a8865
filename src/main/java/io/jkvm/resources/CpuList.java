package io.jkvm.resources;

import io.jkvm.kvm.Scheduling;

import java.util.BitSet;

/**
 * A set of host CPUs in the kernel's list syntax ({@code 0-3,6}, as cpuset.cpus and taskset -c
 * take it): what a vCPU or the VMM's other threads may run on. Immutable; never empty.
 */
public final class CpuList {
    private final BitSet cpus;

    private CpuList(BitSet cpus) {
        this.cpus = cpus;
    }

    /**
     * Parses {@code text}; {@code field} names the setting in the error.
     *
     * @throws IllegalArgumentException naming the field and what is wrong
     */
    public static CpuList parse(String field, String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException(field + ": a CPU list such as 0-3,6 is required");
        }
        BitSet set = new BitSet();
        for (String part : text.strip().split(",", -1)) {
            String p = part.strip();
            int dash = p.indexOf('-');
            int from = cpu(field, text, dash < 0 ? p : p.substring(0, dash));
            int to = dash < 0 ? from : cpu(field, text, p.substring(dash + 1));
            if (to < from) {
                throw new IllegalArgumentException(field + " " + text + ": the range " + p + " runs backwards");
            }
            set.set(from, to + 1);
        }
        return new CpuList(set);
    }

    private static int cpu(String field, String text, String s) {
        if (s.isEmpty() || s.length() > 5 || !s.chars().allMatch(Character::isDigit)) {
            throw new IllegalArgumentException(field + " " + text + ": '" + s + "' is not a CPU number");
        }
        int n = Integer.parseInt(s);
        if (n >= Scheduling.MAX_CPUS) {
            throw new IllegalArgumentException(field + " " + text + ": CPU " + n + " is above the largest possible ("
                    + (Scheduling.MAX_CPUS - 1) + ")");
        }
        return n;
    }

    /**
     * Refuses CPUs this process may not run on ({@code allowed}: its affinity, which a container's
     * cpuset or taskset narrows), naming them: pinning there would fail at start (EINVAL).
     */
    public void requireWithin(String field, BitSet allowed) {
        BitSet outside = (BitSet) cpus.clone();
        outside.andNot(allowed);
        if (!outside.isEmpty()) {
            throw new IllegalArgumentException(field + " " + this + ": CPU " + format(outside)
                    + " is not one this process may run on (allowed: " + format(allowed) + ")");
        }
    }

    public BitSet bits() {
        return (BitSet) cpus.clone();
    }

    /** The canonical list form. */
    @Override
    public String toString() {
        return format(cpus);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CpuList c && c.cpus.equals(cpus);
    }

    @Override
    public int hashCode() {
        return cpus.hashCode();
    }

    /** {@code set} in list syntax (ranges of three or more as a-b). */
    public static String format(BitSet set) {
        StringBuilder sb = new StringBuilder();
        for (int i = set.nextSetBit(0); i >= 0; ) {
            int end = set.nextClearBit(i) - 1;
            if (!sb.isEmpty()) {
                sb.append(',');
            }
            sb.append(i);
            if (end > i) {
                sb.append(end == i + 1 ? "," : "-").append(end);
            }
            i = set.nextSetBit(end + 1);
        }
        return sb.toString();
    }
}
