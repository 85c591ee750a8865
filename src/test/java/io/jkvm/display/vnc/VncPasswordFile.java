package io.jkvm.display.vnc;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** For tests that run real VNC clients: the password file vncpasswd writes and vncsnapshot's -passwd reads. */
public final class VncPasswordFile {
    private VncPasswordFile() {}

    /**
     * The password, cut or zero-padded to 8 bytes, DES-encrypted under the fixed key every VNC
     * implementation uses for these files, through the same bit-reversed key as the authentication.
     */
    public static byte[] of(String password) {
        byte[] fixed = {23, 82, 107, 6, 35, 78, 88, 7};
        return VncAuth.response(VncAuth.key(fixed), Arrays.copyOf(password.getBytes(StandardCharsets.ISO_8859_1), 8));
    }
}
