package io.jkvm.mmds;

/**
 * The MMDS address rule: a dotted-quad IPv4 address in 169.254.0.0/16 outside its first and last
 * /24 (RFC 3927 reserves 169.254.0.0/24 and 169.254.255.0/24), as Firecracker requires.
 */
public final class LinkLocal {
    /** 169.254.169.254, the default. */
    public static final int DEFAULT = 0xA9FEA9FE;

    private LinkLocal() {}

    /** The address as a big-endian int, or throws {@link IllegalArgumentException} saying why it is refused. */
    public static int parse(String text) {
        String[] parts = text.split("\\.", -1);
        if (parts.length != 4) {
            throw new IllegalArgumentException("not an IPv4 address (a.b.c.d)");
        }
        int addr = 0;
        for (String p : parts) {
            if (p.isEmpty() || p.length() > 3 || !p.chars().allMatch(ch -> ch >= '0' && ch <= '9')) {
                throw new IllegalArgumentException("not an IPv4 address (a.b.c.d)");
            }
            int v = Integer.parseInt(p);
            if (v > 255) {
                throw new IllegalArgumentException("not an IPv4 address (a.b.c.d)");
            }
            addr = addr << 8 | v;
        }
        int third = addr >>> 8 & 0xff;
        if ((addr >>> 16) != 0xA9FE || third == 0 || third == 255) {
            throw new IllegalArgumentException("not a usable link-local address (169.254.1.0 to 169.254.254.255)");
        }
        return addr;
    }

    public static String format(int addr) {
        return (addr >>> 24) + "." + (addr >>> 16 & 0xff) + "." + (addr >>> 8 & 0xff) + "." + (addr & 0xff);
    }
}
