package io.jkvm.net;

import io.jkvm.config.ConfigException;
import io.jkvm.config.OptionList;

import java.util.Map;
import java.util.Objects;
import java.util.Set;

/** One {@code --net tap=NAME[,mac=MAC]}; without a MAC a locally administered one is generated. */
public record NetConfig(String tap, MacAddress mac) {
    /** IFNAMSIZ is 16 including the terminating NUL. */
    public static final int MAX_IFNAME = 15;

    public NetConfig {
        Objects.requireNonNull(tap, "tap");
        Objects.requireNonNull(mac, "mac");
        if (tap.isEmpty() || tap.length() > MAX_IFNAME) {
            throw new ConfigException("--net: field 'tap' must be 1.." + MAX_IFNAME + " characters: '" + tap + "'");
        }
        for (char ch : tap.toCharArray()) {
            if (ch <= 0x20 || ch >= 0x7f || ch == '/' || ch == ':') {
                throw new ConfigException("--net: field 'tap' is not a valid interface name: '" + tap + "'");
            }
        }
    }

    public static NetConfig parse(String text) {
        Map<String, String> kv = OptionList.parse("--net", text, Set.of("tap", "mac"));
        String tap = kv.get("tap");
        if (tap == null) {
            throw new ConfigException("--net: field 'tap' is required");
        }
        MacAddress mac = kv.containsKey("mac") ? MacAddress.parse(kv.get("mac")) : MacAddress.randomLocal();
        return new NetConfig(tap, mac);
    }
}
