package io.jkvm.net;

import io.jkvm.config.ConfigException;
import io.jkvm.config.OptionList;
import io.jkvm.resources.RateLimitConfig;

import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * One {@code --net tap=NAME[,mac=MAC]}; without a MAC a locally administered one is generated.
 * The receive and transmit rate limits are the API's {@code rx_rate_limiter} and
 * {@code tx_rate_limiter} (unlimited from the command line).
 */
public record NetConfig(String tap, MacAddress mac, RateLimitConfig rxRateLimit, RateLimitConfig txRateLimit) {
    /** IFNAMSIZ is 16 including the terminating NUL. */
    public static final int MAX_IFNAME = 15;

    /** An unlimited interface. */
    public NetConfig(String tap, MacAddress mac) {
        this(tap, mac, RateLimitConfig.UNLIMITED, RateLimitConfig.UNLIMITED);
    }

    public NetConfig {
        Objects.requireNonNull(tap, "tap");
        Objects.requireNonNull(mac, "mac");
        Objects.requireNonNull(rxRateLimit, "rxRateLimit");
        Objects.requireNonNull(txRateLimit, "txRateLimit");
        checkTap(tap);
    }

    private static void checkTap(String tap) {
        if (tap.isEmpty() || tap.length() > MAX_IFNAME) {
            throw new ConfigException("--net: field 'tap' must be 1.." + MAX_IFNAME + " characters: '" + tap + "'");
        }
        for (char ch : tap.toCharArray()) {
            if (ch <= 0x20 || ch >= 0x7f || ch == '/' || ch == ':') {
                throw new ConfigException("--net: field 'tap' is not a valid interface name: '" + tap + "'");
            }
        }
    }

    /** A {@code --net} argument as written: its TAP, and its MAC or null when none is given. */
    public record Given(String tap, MacAddress mac) {}

    /** Parses and checks a {@code --net} argument without choosing a MAC (the daemon's VMM chooses one). */
    public static Given parseGiven(String text) {
        Map<String, String> kv = OptionList.parse("--net", text, Set.of("tap", "mac"));
        String tap = kv.get("tap");
        if (tap == null) {
            throw new ConfigException("--net: field 'tap' is required");
        }
        checkTap(tap);
        return new Given(tap, kv.containsKey("mac") ? MacAddress.parse(kv.get("mac")) : null);
    }

    /** Parses the {@code --net} argument; without a MAC, a locally administered one is generated. */
    public static NetConfig parse(String text) {
        Given g = parseGiven(text);
        return new NetConfig(g.tap(), g.mac() != null ? g.mac() : MacAddress.randomLocal());
    }
}
