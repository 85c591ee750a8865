package io.jkvm.mmds;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * One HTTP/1.x request as a guest sends it to the MMDS: request line and headers (names lower
 * case), bodies skipped. {@link #parse} takes bytes from a connection's bounded buffer and says
 * how many the request took, or that more are needed, or that the request is malformed.
 */
record HttpRequest(String method, String path, String version, Map<String, String> headers, int length) {
    /** Headers beyond this many make the request malformed. */
    static final int MAX_HEADERS = 32;

    /** Not a request: {@link #parse} says why. */
    static final class Malformed extends Exception {
        Malformed(String message) {
            super(message, null, false, false);
        }
    }

    String header(String name) {
        return headers.get(name);
    }

    /** Whether the connection is to be closed after the response. */
    boolean closes() {
        String c = headers.getOrDefault("connection", "").toLowerCase(Locale.ROOT);
        return c.contains("close") || version.equals("HTTP/1.0") && !c.contains("keep-alive");
    }

    /**
     * The request at the start of {@code buf[0..len)}, or null when it is not complete yet (the
     * caller decides whether its buffer could still take the rest).
     */
    static HttpRequest parse(byte[] buf, int len) throws Malformed {
        int end = headerEnd(buf, len);
        if (end < 0) {
            return null;
        }
        String head = new String(buf, 0, end, StandardCharsets.ISO_8859_1);
        String[] lines = head.split("\r\n", -1);
        String[] requestLine = lines[0].split(" ", -1);
        if (requestLine.length != 3 || requestLine[0].isEmpty() || requestLine[1].isEmpty()) {
            throw new Malformed("Invalid request line.");
        }
        String version = requestLine[2];
        if (!version.equals("HTTP/1.1") && !version.equals("HTTP/1.0")) {
            throw new Malformed("Unsupported HTTP version.");
        }
        Map<String, String> headers = new LinkedHashMap<>();
        for (int i = 1; i < lines.length; i++) {
            if (lines[i].isEmpty()) {
                continue;
            }
            int colon = lines[i].indexOf(':');
            if (colon <= 0 || headers.size() >= MAX_HEADERS) {
                throw new Malformed("Invalid header.");
            }
            headers.put(lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT), lines[i].substring(colon + 1).trim());
        }
        if (headers.containsKey("transfer-encoding")) {
            throw new Malformed("Transfer-Encoding is not supported.");
        }
        long body = 0;
        String cl = headers.get("content-length");
        if (cl != null) {
            if (cl.isEmpty() || cl.length() > 9 || !cl.chars().allMatch(ch -> ch >= '0' && ch <= '9')) {
                throw new Malformed("Invalid Content-Length.");
            }
            body = Long.parseLong(cl);
        }
        long total = end + 4L + body;
        if (total > len) {
            return total > Integer.MAX_VALUE ? fail() : null;
        }
        String path = requestLine[1];
        if (path.regionMatches(true, 0, "http://", 0, 7)) {
            int slash = path.indexOf('/', 7);
            path = slash < 0 ? "/" : path.substring(slash);
        }
        int q = path.indexOf('?');
        if (q >= 0) {
            path = path.substring(0, q);
        }
        return new HttpRequest(requestLine[0], path, version, headers, (int) total);
    }

    private static HttpRequest fail() throws Malformed {
        throw new Malformed("Request too large.");
    }

    /** Offset of the blank line's CRLFCRLF, or -1. */
    private static int headerEnd(byte[] b, int len) {
        for (int i = 0; i + 3 < len; i++) {
            if (b[i] == '\r' && b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n') {
                return i;
            }
        }
        return -1;
    }
}
