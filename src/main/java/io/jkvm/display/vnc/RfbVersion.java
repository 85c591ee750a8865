package io.jkvm.display.vnc;

import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The ProtocolVersion message (RFC 6143 section 7.1.1): "RFB xxx.yyy\n", 12 bytes. */
final class RfbVersion {
    static final int LENGTH = 12;
    private static final Pattern FORMAT = Pattern.compile("RFB (\\d{3})\\.(\\d{3})\n");

    private RfbVersion() {}

    /**
     * The minor version this server will speak with a client that sent {@code message}: 3, 7 or
     * 8, or -1 to refuse (not an RFB 3.x version message at all). Other 3.x versions are spoken
     * as 3.3, as RFC 6143 section 7.1.1 says to (they do not implement the newer handshakes).
     */
    static int parse(byte[] message) {
        Matcher m = FORMAT.matcher(new String(message, StandardCharsets.ISO_8859_1));
        if (!m.matches() || !m.group(1).equals("003")) {
            return -1;
        }
        int minor = Integer.parseInt(m.group(2));
        if (minor < 3) {
            return -1;
        }
        return minor == 7 || minor == 8 ? minor : 3;
    }
}
