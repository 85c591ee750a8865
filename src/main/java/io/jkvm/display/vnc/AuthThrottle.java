package io.jkvm.display.vnc;

import java.net.InetAddress;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;

/**
 * Slows password guessing on the TCP port: VNC Authentication has at most 8 password bytes and
 * no rate limit of its own. Three bounds, so that neither many addresses nor many connections
 * buy more guesses:
 * <ul>
 *   <li>Per peer: after {@value #FREE_FAILURES} failures, each further failure shuts the peer out
 *       for twice as long as the last (1 s, 2 s, ... at most {@value #MAX_BLOCK_SECONDS} s), and
 *       it may have one attempt in flight at a time (parallel connections do not each get a try);
 *       a success forgets it. A peer is an IPv4 address or an IPv6 /64, the block one end site
 *       usually holds whole.</li>
 *   <li>Server-wide: at most {@value #GLOBAL_FAILURES} failures per {@value #WINDOW_SECONDS} s
 *       window from everyone together; past that nobody may try until the window ends.</li>
 *   <li>Memory: at most {@code maxPeers} peers are remembered. When the table is full, peers not
 *       shut out at the moment make room; peers that are shut out stay so, and a new peer that
 *       finds no room is bounded by the server-wide budget alone.</li>
 * </ul>
 */
final class AuthThrottle {
    static final int FREE_FAILURES = 5;
    static final int MAX_BLOCK_SECONDS = 60;
    static final int GLOBAL_FAILURES = 30;
    static final int WINDOW_SECONDS = 10;
    /** How long a throttled peer's one attempt counts as in flight if it never answers (the handshake's deadline is shorter). */
    static final int ATTEMPT_SECONDS = 15;
    private static final long S = 1_000_000_000L;
    private static final int MAX_PEERS = 1024;

    private record Entry(int failures, long blockedUntil, long attemptUntil) {}

    private final int maxPeers;
    private final Map<String, Entry> entries = new HashMap<>();
    private long windowStart;
    private int windowFailures;

    AuthThrottle() {
        this(MAX_PEERS);
    }

    AuthThrottle(int maxPeers) {
        this.maxPeers = maxPeers;
    }

    /** The peer an address belongs to: the address itself for IPv4, its /64 for IPv6. */
    static String peerOf(InetAddress address) {
        byte[] a = address.getAddress();
        return a.length == 16 ? "v6:" + HexFormat.of().formatHex(a, 0, 8) + "::/64" : "v4:" + address.getHostAddress();
    }

    /**
     * True if {@code address} may try a password now. For a peer past its free failures this also
     * takes its one attempt in flight, until {@link #failed} or {@link #succeeded} (or
     * {@value #ATTEMPT_SECONDS} s) gives it back.
     */
    synchronized boolean allowed(InetAddress address, long now) {
        if (windowFailures >= GLOBAL_FAILURES && now - windowStart < WINDOW_SECONDS * S) {
            return false;
        }
        String peer = peerOf(address);
        Entry e = entries.get(peer);
        if (e == null) {
            return true;
        }
        if (now - e.blockedUntil < 0) {
            return false;
        }
        if (e.failures >= FREE_FAILURES) {
            if (now - e.attemptUntil < 0) {
                return false;
            }
            entries.put(peer, new Entry(e.failures, e.blockedUntil, now + ATTEMPT_SECONDS * S));
        }
        return true;
    }

    synchronized void failed(InetAddress address, long now) {
        if (windowFailures == 0 || now - windowStart >= WINDOW_SECONDS * S) {
            windowStart = now;
            windowFailures = 0;
        }
        windowFailures++;
        String peer = peerOf(address);
        if (!entries.containsKey(peer) && entries.size() >= maxPeers) {
            entries.values().removeIf(e -> now - e.blockedUntil >= 0);
            if (entries.size() >= maxPeers) {
                return;
            }
        }
        Entry e = entries.get(peer);
        int failures = e == null ? 1 : e.failures + 1;
        long blockedUntil = now;
        if (failures > FREE_FAILURES) {
            int doublings = Math.min(failures - FREE_FAILURES - 1, 6);
            long seconds = Math.min(1L << doublings, MAX_BLOCK_SECONDS);
            blockedUntil = now + seconds * S;
        }
        entries.put(peer, new Entry(failures, blockedUntil, now));
    }

    synchronized void succeeded(InetAddress address) {
        entries.remove(peerOf(address));
    }
}
