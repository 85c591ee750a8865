package io.jkvm.config;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A virtio-vsock device (virtio 1.2 §5.10) with Firecracker's hybrid host side: the guest's CID
 * and the host Unix socket it is reached through ({@code uds_path}; guest connections to host port
 * P go to {@code <uds_path>_P}).
 *
 * @param guestCid 3..2^32-1 (0-2 are reserved: any, hypervisor, host; vsock(7))
 * @param udsPath an absolute path
 */
public record VsockConfig(long guestCid, Path udsPath) {
    public static final long MIN_CID = 3;
    public static final long MAX_CID = 0xffff_ffffL;
    /** sun_path holds 108 bytes with its NUL; {@code _<port>} adds up to 11 more for guest connections. */
    public static final int MAX_PATH = 107 - 11;

    public VsockConfig {
        Objects.requireNonNull(udsPath, "udsPath");
        if (guestCid < MIN_CID || guestCid > MAX_CID) {
            throw new ConfigException("vsock guest_cid " + guestCid + ": must be " + MIN_CID + ".." + MAX_CID);
        }
        if (!udsPath.isAbsolute()) {
            throw new ConfigException("vsock uds_path " + udsPath + ": must be absolute");
        }
        if (udsPath.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length > MAX_PATH) {
            throw new ConfigException("vsock uds_path " + udsPath + ": longer than " + MAX_PATH
                    + " bytes (a Unix socket path holds 107, and guest connections add _<port>)");
        }
    }

    /** The same device reached through another socket (a snapshot load's {@code vsock_override}). */
    public VsockConfig withUdsPath(Path p) {
        return new VsockConfig(guestCid, p);
    }

    /** {@code cid=N,uds=PATH} (the CLI's {@code --vsock}); a relative uds resolves against the working directory. */
    public static VsockConfig parse(String spec) {
        Long cid = null;
        Path uds = null;
        for (String part : spec.split(",", -1)) {
            int eq = part.indexOf('=');
            String k = eq < 0 ? part : part.substring(0, eq);
            String v = eq < 0 ? "" : part.substring(eq + 1);
            switch (k) {
                case "cid" -> {
                    try {
                        cid = Long.parseLong(v);
                    } catch (NumberFormatException e) {
                        throw new ConfigException("--vsock cid '" + v + "': not a number");
                    }
                }
                case "uds" -> {
                    if (v.isEmpty()) {
                        throw new ConfigException("--vsock uds: empty path");
                    }
                    uds = Path.of(v).toAbsolutePath();
                }
                default -> throw new ConfigException("--vsock: unknown key '" + k + "' (cid=N,uds=PATH)");
            }
        }
        if (cid == null || uds == null) {
            throw new ConfigException("--vsock needs cid=N,uds=PATH");
        }
        return new VsockConfig(cid, uds);
    }
}
