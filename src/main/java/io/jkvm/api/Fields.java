package io.jkvm.api;

import java.util.regex.Pattern;

/** Checks of single request fields shared by several sections: ids, enumerations, rate limiters. */
final class Fields {
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9_-]{1,64}");

    private Fields() {}

    static void requireId(String field, String id) {
        if (!ID.matcher(id).matches()) {
            throw ApiException.badField(field, field + " '" + id + "': use 1 to 64 letters, digits, _ or -");
        }
    }

    /** {@code value} is null (not given) or one of {@code allowed}. */
    static void checkOneOf(String field, String value, String... allowed) {
        if (value == null) {
            return;
        }
        for (String a : allowed) {
            if (a.equals(value)) {
                return;
            }
        }
        throw ApiException.badField(field, field + " '" + value + "': not one of " + String.join(", ", allowed));
    }

    static void checkRateLimiter(String field, RateLimiter limiter) {
        if (limiter != null) {
            limiter.validate(field);
        }
    }

    static ApiException missing(String field) {
        return ApiException.badField(field, "missing field '" + field + "'");
    }
}
