package io.jkvm.migration;

/**
 * A migration endpoint, written {@code tcp:HOST:PORT} (IPv6 hosts in brackets: {@code tcp:[::1]:4444}).
 * Port 0 means "any free port" and is only meaningful for listening.
 */
public record MigrationAddress(String host, int port) {
    public MigrationAddress {
        if (host == null || host.isEmpty() || !host.matches("[A-Za-z0-9.:-]+")) {
            throw new MigrationException("address: bad host " + host);
        }
        if (port < 0 || port > 65535) {
            throw new MigrationException("address: port " + port + " outside 0..65535");
        }
    }

    /** Parses {@code tcp:HOST:PORT}; {@code field} names the option in the error. */
    public static MigrationAddress parse(String field, String s) {
        MigrationAddress a = parseAny(field, s);
        if (a.port == 0) {
            throw new MigrationException(field + ": port 0 is only allowed for listening (--incoming)");
        }
        return a;
    }

    /** Like {@link #parse} but allows port 0 (listen on any free port). */
    public static MigrationAddress parseAny(String field, String s) {
        if (s == null || !s.startsWith("tcp:")) {
            throw new MigrationException(field + ": expected tcp:HOST:PORT, got " + s);
        }
        String rest = s.substring(4);
        int colon = rest.lastIndexOf(':');
        if (colon <= 0) {
            throw new MigrationException(field + ": expected tcp:HOST:PORT, got " + s);
        }
        String host = rest.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        int port;
        try {
            port = Integer.parseInt(rest.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new MigrationException(field + ": port is not a number in " + s);
        }
        try {
            return new MigrationAddress(host, port);
        } catch (MigrationException e) {
            throw new MigrationException(field + ": " + e.getMessage().substring("address: ".length()));
        }
    }

    @Override
    public String toString() {
        return "tcp:" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    }
}
