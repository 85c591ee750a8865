package io.jkvm.display.vnc;

import java.net.InetSocketAddress;

/**
 * Types a line at a VNC server as a person at a VNC viewer would: RFB 3.8 with VNC
 * Authentication, then a KeyEvent press and release per character (their X11 keysyms, which
 * equal the code points for printable ASCII; RFC 6143 §7.5.4) and Return. DisplayLabTest runs it
 * inside the lab against a VMM whose guest reads the line from its console.
 *
 * <p>Usage: {@code TypeOverVnc HOST PORT PASSWORD TEXT} (TEXT: lower-case letters and digits).
 */
public final class TypeOverVnc {
    private static final int RETURN = 0xff0d;

    private TypeOverVnc() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 4 || !args[3].matches("[a-z0-9]{1,64}")) {
            System.err.println("usage: TypeOverVnc HOST PORT PASSWORD TEXT (TEXT: 1-64 of a-z 0-9)");
            System.exit(2);
        }
        try (RfbTestClient c = RfbTestClient.connect(new InetSocketAddress(args[0], Integer.parseInt(args[1])))) {
            c.handshakeAuth(args[2]);
            for (char ch : args[3].toCharArray()) {
                c.key(true, ch);
                c.key(false, ch);
            }
            c.key(true, RETURN);
            c.key(false, RETURN);
            System.out.println("typed " + args[3].length() + " keys and Return over VNC (" + c.width + "x" + c.height + ")");
        }
    }
}
