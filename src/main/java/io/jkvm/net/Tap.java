package io.jkvm.net;

import io.jkvm.kvm.Native;
import io.jkvm.kvm.NativeException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

/**
 * A TAP interface (linux/if_tun.h): /dev/net/tun with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, vnet
 * header size 12 (virtio_net_hdr_v1), non-blocking. Offloads are enabled per what the guest
 * negotiated: the kernel may then hand us GSO frames and frames with partial checksums.
 */
public final class Tap implements NetBackend {
    // _IOW('T', n, int/unsigned int): dir 1 << 30 | size 4 << 16 | 'T' << 8 | n.
    static final long TUNSETIFF = 0x400454caL;
    static final long TUNSETOFFLOAD = 0x400454d0L;
    static final long TUNSETVNETHDRSZ = 0x400454d8L;
    static final short IFF_TAP = 0x0002;
    static final short IFF_NO_PI = 0x1000;
    static final short IFF_VNET_HDR = 0x4000;
    static final int TUN_F_CSUM = 0x01;
    static final int TUN_F_TSO4 = 0x02;
    static final int TUN_F_TSO6 = 0x04;
    public static final int VNET_HDR_SIZE = 12;
    private static final int IFREQ_SIZE = 40;

    private final int fd;
    private final String name;

    private Tap(int fd, String name) {
        this.fd = fd;
        this.name = name;
    }

    /** Opens (or creates, with CAP_NET_ADMIN) TAP interface {@code name}. */
    public static Tap open(String name) throws IOException {
        int fd;
        try {
            fd = Native.open("/dev/net/tun", Native.O_RDWR | Native.O_NONBLOCK | Native.O_CLOEXEC);
        } catch (NativeException e) {
            throw new IOException("cannot open /dev/net/tun for TAP " + name + ": " + e.getMessage(), e);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ifr = a.allocate(IFREQ_SIZE, 8);
            byte[] n = name.getBytes(StandardCharsets.US_ASCII);
            if (n.length > 15) {
                throw new IOException("TAP name too long: " + name);
            }
            MemorySegment.copy(n, 0, ifr, ValueLayout.JAVA_BYTE, 0, n.length);
            ifr.set(ValueLayout.JAVA_SHORT, 16, (short) (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR));
            int r = Native.ioctlOrErrno(fd, TUNSETIFF, ifr);
            if (r < 0) {
                throw new IOException("TUNSETIFF " + name + ": " + Native.strerror(-r)
                        + (r == -1 || r == -13 ? " (needs CAP_NET_ADMIN or a TAP owned by this user)" : ""));
            }
            String actual = ifr.getString(0, StandardCharsets.US_ASCII);
            MemorySegment hdr = a.allocateFrom(ValueLayout.JAVA_INT, VNET_HDR_SIZE);
            r = Native.ioctlOrErrno(fd, TUNSETVNETHDRSZ, hdr);
            if (r < 0) {
                throw new IOException("TUNSETVNETHDRSZ on " + name + ": " + Native.strerror(-r));
            }
            Tap t = new Tap(fd, actual);
            t.setOffloads(false, false, false);
            return t;
        } catch (IOException | RuntimeException e) {
            Native.close(fd);
            throw e;
        }
    }

    /** TUNSETOWNER / TUNSETGROUP (linux/if_tun.h): the argument is the id itself, not a pointer. */
    static final long TUNSETOWNER = 0x400454ccL;
    static final long TUNSETGROUP = 0x400454ceL;

    /**
     * Gives persistent TAP {@code name} to a user and group, so a VMM running as them can attach
     * it without CAP_NET_ADMIN (as {@code ip tuntap add ... user UID group GID} does). Needs
     * CAP_NET_ADMIN itself.
     */
    public static void giveTo(String name, int uid, int gid) throws IOException {
        try (Tap t = open(name)) {
            int r = Native.ioctlOrErrno(t.fd, TUNSETOWNER, uid);
            if (r >= 0) {
                r = Native.ioctlOrErrno(t.fd, TUNSETGROUP, gid);
            }
            if (r < 0) {
                throw new IOException("TUNSETOWNER/TUNSETGROUP " + name + " to " + uid + ":" + gid + ": " + Native.strerror(-r));
            }
        }
    }

    public String name() {
        return name;
    }

    @Override
    public int fd() {
        return fd;
    }

    @Override
    public boolean setOffloads(boolean csum, boolean tso4, boolean tso6) {
        int f = 0;
        if (csum) {
            f |= TUN_F_CSUM;
            // The kernel refuses TSO without checksum offload.
            f |= (tso4 ? TUN_F_TSO4 : 0) | (tso6 ? TUN_F_TSO6 : 0);
        }
        return Native.ioctlOrErrno(fd, TUNSETOFFLOAD, f) >= 0;
    }

    @Override
    public void close() {
        Native.close(fd);
    }
}
