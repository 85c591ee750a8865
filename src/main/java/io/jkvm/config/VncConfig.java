package io.jkvm.config;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/**
 * Where the VMM serves its display over RFB/VNC ({@code --vnc}): a Unix socket (the default
 * kind: its 0600 file is the access control, as QEMU's {@code -vnc unix:PATH}), or TCP, which is
 * refused without a password (VNC Authentication; QEMU's {@code password-secret}).
 *
 * @param unixSocket the socket's path, or null for TCP
 * @param host the TCP address to listen on, or null for a Unix socket
 * @param port the TCP port, 1..65535
 * @param password the TCP password (read from the file named on the command line), or null
 */
public record VncConfig(Path unixSocket, String host, int port, String password) {
    /** RFB's VNC Authentication uses 8 bytes of the password; a longer one is not stronger. */
    public static final int MAX_PASSWORD_FILE = 4096;

    public VncConfig {
        if ((unixSocket == null) == (host == null)) {
            throw new ConfigException("--vnc: either a Unix socket path or tcp=HOST:PORT");
        }
        if (host != null) {
            if (port < 1 || port > 65535) {
                throw new ConfigException("--vnc tcp port " + port + ": must be 1..65535");
            }
            if (password == null || password.isEmpty()) {
                throw new ConfigException("--vnc tcp=" + host + ":" + port
                        + " needs password-file=FILE (VNC over TCP is never open without a password)");
            }
        }
    }

    /** {@code PATH}, {@code unix=PATH} or {@code tcp=HOST:PORT,password-file=FILE}. */
    public static VncConfig parse(String text) {
        if (text == null || text.isBlank()) {
            throw new ConfigException("--vnc: give a Unix socket path, or tcp=HOST:PORT,password-file=FILE");
        }
        if (!text.contains("=")) {
            return new VncConfig(path("--vnc", text), null, 0, null);
        }
        Map<String, String> f = OptionList.parse("--vnc", text, Set.of("unix", "tcp", "password-file"));
        if (f.containsKey("unix")) {
            if (f.size() > 1) {
                throw new ConfigException("--vnc unix=PATH takes no other keys (password-file is for tcp=)");
            }
            return new VncConfig(path("--vnc unix", f.get("unix")), null, 0, null);
        }
        String tcp = f.get("tcp");
        if (tcp == null) {
            throw new ConfigException("--vnc: unix=PATH or tcp=HOST:PORT is required");
        }
        int colon = tcp.lastIndexOf(':');
        if (colon <= 0 || colon == tcp.length() - 1) {
            throw new ConfigException("--vnc tcp '" + tcp + "': expected HOST:PORT");
        }
        String host = tcp.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        String portText = tcp.substring(colon + 1);
        if (portText.length() > 5 || !portText.chars().allMatch(Character::isDigit)) {
            throw new ConfigException("--vnc tcp port '" + portText + "': not a port number");
        }
        String file = f.get("password-file");
        if (file == null) {
            throw new ConfigException("--vnc tcp=" + tcp + " needs password-file=FILE (VNC over TCP is never open without a password)");
        }
        return new VncConfig(null, host, Integer.parseInt(portText), readPassword(path("--vnc password-file", file)));
    }

    private static Path path(String what, String text) {
        try {
            return Path.of(text);
        } catch (InvalidPathException e) {
            throw new ConfigException(what + " '" + text + "': not a valid path");
        }
    }

    /** The file's first line (a trailing newline is not part of the password). */
    private static String readPassword(Path file) {
        try {
            if (!Files.isRegularFile(file)) {
                throw new ConfigException("--vnc password-file " + file + ": not a readable regular file");
            }
            if (Files.size(file) > MAX_PASSWORD_FILE) {
                throw new ConfigException("--vnc password-file " + file + ": larger than " + MAX_PASSWORD_FILE + " bytes");
            }
            String s = Files.readString(file, StandardCharsets.UTF_8);
            int nl = s.indexOf('\n');
            String pw = nl < 0 ? s : s.substring(0, nl);
            if (pw.endsWith("\r")) {
                pw = pw.substring(0, pw.length() - 1);
            }
            if (pw.isEmpty()) {
                throw new ConfigException("--vnc password-file " + file + ": empty password");
            }
            return pw;
        } catch (IOException e) {
            throw new ConfigException("--vnc password-file " + file + ": " + e.getMessage());
        }
    }

    /** Never the password. */
    @Override
    public String toString() {
        return unixSocket != null ? "unix:" + unixSocket : "tcp:" + host + ":" + port + " (password set)";
    }
}
