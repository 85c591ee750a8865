package io.jkvm.daemon.web;

import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * Where the web console listens: {@code HOST:PORT}, {@code [V6]:PORT} or a bare {@code PORT}
 * (127.0.0.1). Plain HTTP: only a loopback address is accepted unless the operator says
 * otherwise, since anything else puts the login token and the consoles on the network in clear.
 */
public record HttpAddress(String host, int port, InetAddress address) {
    /**
     * Parses {@code spec}; refuses a non-loopback address unless {@code allowRemote}.
     *
     * @throws IllegalArgumentException with a one-line message naming the problem
     */
    public static HttpAddress parse(String spec, boolean allowRemote) {
        if (spec == null || spec.isBlank() || spec.length() > 300) {
            throw new IllegalArgumentException("--http: give HOST:PORT (e.g. 127.0.0.1:8090)");
        }
        String host;
        String port;
        if (spec.matches("\\d+")) {
            host = "127.0.0.1";
            port = spec;
        } else if (spec.startsWith("[")) {
            int end = spec.indexOf("]:");
            if (end < 0) {
                throw new IllegalArgumentException("--http " + spec + ": give [IPv6]:PORT");
            }
            host = spec.substring(1, end);
            port = spec.substring(end + 2);
        } else {
            int colon = spec.lastIndexOf(':');
            if (colon <= 0 || spec.indexOf(':') != colon) {
                throw new IllegalArgumentException("--http " + spec + ": give HOST:PORT (e.g. 127.0.0.1:8090)");
            }
            host = spec.substring(0, colon);
            port = spec.substring(colon + 1);
        }
        int p;
        try {
            p = Integer.parseInt(port);
        } catch (NumberFormatException e) {
            p = -1;
        }
        if (p < 0 || p > 65535) {
            throw new IllegalArgumentException("--http " + spec + ": port '" + port + "' is not 0-65535");
        }
        InetAddress a;
        try {
            a = InetAddress.getByName(host);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("--http " + spec + ": unknown host '" + host + "'");
        }
        if (!a.isLoopbackAddress() && !allowRemote) {
            throw new IllegalArgumentException("--http " + spec + ": " + a.getHostAddress()
                    + " is not a loopback address; the web console speaks plain HTTP, so this would put its token"
                    + " and the VMs' consoles on the network (add --http-allow-remote to do it anyway)");
        }
        return new HttpAddress(host, p, a);
    }
}
