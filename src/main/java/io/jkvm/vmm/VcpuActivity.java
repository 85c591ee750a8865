package io.jkvm.vmm;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * What one vCPU thread is doing and how many exits it has seen, for reports and metrics.
 * Written only by that vCPU's thread, with release stores (plain moves on x86: nothing on the
 * exit path pays for a fence or a locked instruction); read by any thread.
 */
final class VcpuActivity {
    enum Phase {
        NOT_STARTED("not-started"),
        IN_KVM_RUN("in-kvm-run"),
        HANDLING_EXIT("handling-exit"),
        PARKED("parked"),
        THROTTLED("throttled"),
        DONE("done");

        final String label;

        Phase(String label) {
            this.label = label;
        }
    }

    static final int REASONS = 64;
    private static final Phase[] PHASES = Phase.values();

    private final AtomicInteger phase = new AtomicInteger(Phase.NOT_STARTED.ordinal());
    private final AtomicLongArray exits = new AtomicLongArray(REASONS);
    private final AtomicInteger lastExit = new AtomicInteger(-1);
    private volatile Thread thread;

    void bind(Thread t) {
        thread = t;
    }

    Thread thread() {
        return thread;
    }

    void enter(Phase p) {
        phase.setRelease(p.ordinal());
    }

    Phase phase() {
        return PHASES[phase.getAcquire()];
    }

    /** Single writer (the vCPU thread): read-increment-release without a locked instruction. */
    void countExit(int reason) {
        lastExit.setRelease(reason);
        if (reason >= 0 && reason < REASONS) {
            exits.setRelease(reason, exits.getPlain(reason) + 1);
        }
    }

    /** The reason of the last exit from KVM_RUN, or -1 before the first. */
    int lastExit() {
        return lastExit.getAcquire();
    }

    long exits(int reason) {
        return reason >= 0 && reason < REASONS ? exits.getAcquire(reason) : 0;
    }

    long totalExits() {
        long n = 0;
        for (int i = 0; i < REASONS; i++) {
            n += exits.getAcquire(i);
        }
        return n;
    }

    Map<String, Long> exitsByName() {
        Map<String, Long> m = new TreeMap<>();
        for (int i = 0; i < REASONS; i++) {
            long n = exits.getAcquire(i);
            if (n > 0) {
                m.merge(io.jkvm.kvm.KvmIoctls.exitName(i), n, Long::sum);
            }
        }
        return m;
    }
}
