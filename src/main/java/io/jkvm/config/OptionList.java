package io.jkvm.config;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Parses {@code key=value[,key=value...]} option strings such as {@code --disk} and
 * {@code --net} arguments. Keys must be known, appear once, and have a non-empty value;
 * errors are {@link ConfigException}s naming the option and the field.
 */
public final class OptionList {
    private OptionList() {}

    public static Map<String, String> parse(String option, String text, Set<String> keys) {
        if (text == null || text.isBlank()) {
            throw new ConfigException(option + ": empty value; expected key=value[,key=value...]");
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (String part : text.split(",", -1)) {
            int eq = part.indexOf('=');
            if (eq <= 0) {
                throw new ConfigException(option + ": '" + part + "' is not key=value");
            }
            String key = part.substring(0, eq).trim();
            String value = part.substring(eq + 1);
            if (!keys.contains(key)) {
                throw new ConfigException(option + ": unknown field '" + key + "' (known: " + String.join(", ", keys) + ")");
            }
            if (value.isEmpty()) {
                throw new ConfigException(option + ": field '" + key + "' has an empty value");
            }
            if (out.put(key, value) != null) {
                throw new ConfigException(option + ": field '" + key + "' given twice");
            }
        }
        return out;
    }

    /** on/off/true/false/yes/no. */
    public static boolean flag(String option, String key, String value) {
        return switch (value.toLowerCase(java.util.Locale.ROOT)) {
            case "on", "true", "yes" -> true;
            case "off", "false", "no" -> false;
            default -> throw new ConfigException(option + ": field '" + key + "' must be on or off, not '" + value + "'");
        };
    }
}
