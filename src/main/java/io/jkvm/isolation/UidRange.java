package io.jkvm.isolation;

/**
 * The user ids a host daemon gives its VMs, one each ({@code jkvm daemon --vm-uids FIRST-LAST}),
 * as libvirt gives each QEMU its own user under dynamic ownership: ids no person or service of
 * the host uses, so a VM's files are its alone.
 */
public record UidRange(int first, int last) {
    public static final String FLAG = "--vm-uids";
    /** More VMs than one host runs: a bound on the search for a free id. */
    public static final int MAX_SIZE = 1 << 20;

    public UidRange {
        if (first < 1000 || last < first || (long) last - first + 1 > MAX_SIZE) {
            throw new IllegalArgumentException(FLAG + " " + first + "-" + last + ": must be FIRST-LAST with 1000 <= FIRST <= LAST"
                    + " and at most " + MAX_SIZE + " ids (ids below 1000 belong to the system and its people)");
        }
    }

    /** Parses {@code FIRST-LAST}. @throws IllegalArgumentException naming the flag */
    public static UidRange parse(String text) {
        String t = text == null ? "" : text.strip();
        int dash = t.indexOf('-');
        if (dash <= 0 || !t.substring(0, dash).chars().allMatch(Character::isDigit) || !t.substring(dash + 1).chars().allMatch(Character::isDigit)
                || dash > 10 || t.length() - dash - 1 > 10 || dash == t.length() - 1) {
            throw new IllegalArgumentException(FLAG + " " + text + ": expected FIRST-LAST, e.g. 200000-200999");
        }
        long a = Long.parseLong(t.substring(0, dash));
        long b = Long.parseLong(t.substring(dash + 1));
        if (a > Integer.MAX_VALUE || b > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(FLAG + " " + text + ": ids go up to " + Integer.MAX_VALUE);
        }
        return new UidRange((int) a, (int) b);
    }

    public boolean contains(int id) {
        return id >= first && id <= last;
    }

    /** The lowest id of the range for which {@code taken} is false, or -1 when all are. */
    public int firstFree(java.util.function.IntPredicate taken) {
        for (long id = first; id <= last; id++) {
            if (!taken.test((int) id)) {
                return (int) id;
            }
        }
        return -1;
    }
}
