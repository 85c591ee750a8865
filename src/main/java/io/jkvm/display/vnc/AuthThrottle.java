package io.jkvm.display.vnc;

import java.net.InetAddress;
import java.util.HashMap;
import java.util.Map;

/**
 * Slows password guessing on the TCP port: VNC Authentication has at most 8 password bytes and
 * no rate limit of its own. After {@value #FREE_FAILURES} failures from one address, each further
 * failure shuts that address out for twice as long as the last (1 s, 2 s, ... at most
 * {@value #MAX_BLOCK_SECONDS} s); a success forgets the address. The table is bounded: when full,
 * it is emptied (an attacker able to fill it gains a few free guesses, nothing more).
 */
final class AuthThrottle {
    static final int FREE_FAILURES = 5;
    static final int MAX_BLOCK_SECONDS = 60;
    private static final int MAX_ADDRESSES = 1024;

    private record Entry(int failures, long blockedUntil) {}

    private final Map<InetAddress, Entry> entries = new HashMap<>();

    /** True if {@code peer} may try a password now. */
    synchronized boolean allowed(InetAddress peer, long now) {
        Entry e = entries.get(peer);
        return e == null || now - e.blockedUntil >= 0;
    }

    synchronized void failed(InetAddress peer, long now) {
        if (entries.size() >= MAX_ADDRESSES && !entries.containsKey(peer)) {
            entries.clear();
        }
        Entry e = entries.get(peer);
        int failures = e == null ? 1 : e.failures + 1;
        long blockedUntil = now;
        if (failures > FREE_FAILURES) {
            int doublings = Math.min(failures - FREE_FAILURES - 1, 6);
            long seconds = Math.min(1L << doublings, MAX_BLOCK_SECONDS);
            blockedUntil = now + seconds * 1_000_000_000L;
        }
        entries.put(peer, new Entry(failures, blockedUntil));
    }

    synchronized void succeeded(InetAddress peer) {
        entries.remove(peer);
    }
}
