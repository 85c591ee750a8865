package io.jkvm.resources;

import io.jkvm.kvm.Scheduling;

/**
 * The scheduling class of vCPU threads, as {@code chrt} names them: {@code fifo:N} (SCHED_FIFO),
 * {@code rr:N} (SCHED_RR) with a real-time priority N of 1 to 99, or {@code other} (the default
 * time-sharing class, priority 0). A real-time vCPU that never halts can starve its host CPU's
 * other work; the kernel's RT throttling (sched_rt_runtime_us) keeps a share for the rest.
 */
public record RtPolicy(int policy, int priority) {
    public RtPolicy {
        boolean rt = policy == Scheduling.SCHED_FIFO || policy == Scheduling.SCHED_RR;
        if (!rt && policy != Scheduling.SCHED_OTHER) {
            throw new IllegalArgumentException("unknown scheduling policy " + policy);
        }
        if (rt ? priority < 1 || priority > 99 : priority != 0) {
            throw new IllegalArgumentException("priority " + priority + " is out of range for " + name(policy));
        }
    }

    /** Parses {@code fifo:N}, {@code rr:N} or {@code other}; {@code field} names the setting in the error. */
    public static RtPolicy parse(String field, String text) {
        String t = text == null ? "" : text.strip();
        if (t.equals("other")) {
            return new RtPolicy(Scheduling.SCHED_OTHER, 0);
        }
        int colon = t.indexOf(':');
        String kind = colon < 0 ? t : t.substring(0, colon);
        int policy = switch (kind) {
            case "fifo" -> Scheduling.SCHED_FIFO;
            case "rr" -> Scheduling.SCHED_RR;
            default -> throw new IllegalArgumentException(field + " " + text + ": expected fifo:PRIORITY, rr:PRIORITY or other");
        };
        String prio = colon < 0 ? "" : t.substring(colon + 1);
        if (prio.isEmpty() || prio.length() > 2 || !prio.chars().allMatch(Character::isDigit)
                || Integer.parseInt(prio) < 1) {
            throw new IllegalArgumentException(field + " " + text + ": the priority must be 1 to 99");
        }
        return new RtPolicy(policy, Integer.parseInt(prio));
    }

    public boolean realTime() {
        return policy != Scheduling.SCHED_OTHER;
    }

    static String name(int policy) {
        return switch (policy) {
            case Scheduling.SCHED_FIFO -> "fifo";
            case Scheduling.SCHED_RR -> "rr";
            default -> "other";
        };
    }

    @Override
    public String toString() {
        return realTime() ? name(policy) + ":" + priority : "other";
    }
}
