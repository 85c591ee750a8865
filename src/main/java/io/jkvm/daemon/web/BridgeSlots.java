package io.jkvm.daemon.web;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Caps on open bridges: at most {@code perVm} per VM and {@code total} in all, so a page opened
 * in a hundred tabs (or a script) cannot make the daemon hold a hundred sockets and threads.
 */
final class BridgeSlots {
    private final int perVm;
    private final int total;
    private final Map<String, Integer> byVm = new ConcurrentHashMap<>();
    private int open;

    BridgeSlots(int perVm, int total) {
        if (perVm < 1 || total < perVm) {
            throw new IllegalArgumentException("bridge caps: per VM " + perVm + ", total " + total);
        }
        this.perVm = perVm;
        this.total = total;
    }

    /** Takes a slot for VM {@code vm}; false when its cap or the total is reached. */
    synchronized boolean acquire(String vm) {
        int n = byVm.getOrDefault(vm, 0);
        if (n >= perVm || open >= total) {
            return false;
        }
        byVm.put(vm, n + 1);
        open++;
        return true;
    }

    synchronized void release(String vm) {
        Integer n = byVm.get(vm);
        if (n == null) {
            return;
        }
        if (n <= 1) {
            byVm.remove(vm);
        } else {
            byVm.put(vm, n - 1);
        }
        open--;
    }

    synchronized int open(String vm) {
        return byVm.getOrDefault(vm, 0);
    }

    int perVm() {
        return perVm;
    }
}
