package io.jkvm.testing;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One line per tier fact ("jkvm tier: ..."), printed once per test JVM, which {@code bin/test}
 * repeats after the build so that a reader sees which tiers ran where, and why one did not.
 */
public final class TierSummary {
    private static final Set<String> SAID = ConcurrentHashMap.newKeySet();

    private TierSummary() {}

    public static void say(String line) {
        if (SAID.add(line)) {
            System.out.println("jkvm tier: " + line);
        }
    }
}
