package io.jkvm.daemon.web;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;

/**
 * Logged-in browsers: a random 256-bit session id (the cookie) per login, mapped to its
 * {@link Scope} until it expires. Bounded: at most {@link #PER_SCOPE} per scope (a scope's own
 * oldest login makes room for its next, so the holder of one VM's token cannot log out another
 * VM's browsers or the admin's) and {@link #MAX} in all (expired ones go first, then the oldest
 * of the scope with the most). Ids are kept only as their SHA-256, so the lookup's
 * timing depends on a hash of the guess, not on how much of a real id it matches.
 */
final class Sessions {
    static final int MAX = 256;
    static final int PER_SCOPE = 32;
    static final Duration LIFETIME = Duration.ofHours(12);

    private record Entry(Scope scope, Instant expires) {}

    private final Map<String, Entry> byHash = new ConcurrentHashMap<>();
    private final SecureRandom random = new SecureRandom();
    private final Clock clock;

    Sessions(Clock clock) {
        this.clock = clock;
    }

    /** A new session for {@code scope}; returns its id (the cookie value). */
    synchronized String create(Scope scope) {
        Instant now = clock.instant();
        byHash.values().removeIf(e -> !e.expires().isAfter(now));
        Map<Scope, List<Map.Entry<String, Entry>>> byScope = byHash.entrySet().stream()
                .collect(Collectors.groupingBy(e -> e.getValue().scope()));
        List<Map.Entry<String, Entry>> mine = byScope.getOrDefault(scope, List.of());
        if (mine.size() >= PER_SCOPE) {
            removeOldest(mine);
        } else if (byHash.size() >= MAX) {
            byScope.values().stream().max(Comparator.comparingInt(List::size)).ifPresent(this::removeOldest);
        }
        byte[] id = new byte[32];
        random.nextBytes(id);
        String cookie = Base64.getUrlEncoder().withoutPadding().encodeToString(id);
        byHash.put(hash(cookie), new Entry(scope, now.plus(LIFETIME)));
        return cookie;
    }

    private void removeOldest(List<Map.Entry<String, Entry>> entries) {
        entries.stream().min(Comparator.comparing(e -> e.getValue().expires())).ifPresent(e -> byHash.remove(e.getKey()));
    }

    Optional<Scope> lookup(String cookie) {
        if (cookie == null || cookie.isEmpty() || cookie.length() > 64) {
            return Optional.empty();
        }
        Entry e = byHash.get(hash(cookie));
        if (e == null) {
            return Optional.empty();
        }
        if (!e.expires().isAfter(clock.instant())) {
            byHash.remove(hash(cookie));
            return Optional.empty();
        }
        return Optional.of(e.scope());
    }

    void remove(String cookie) {
        if (cookie != null && cookie.length() <= 64) {
            byHash.remove(hash(cookie));
        }
    }

    int size() {
        return byHash.size();
    }

    private static String hash(String cookie) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(cookie.getBytes(StandardCharsets.US_ASCII)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
