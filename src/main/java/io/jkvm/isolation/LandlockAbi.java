package io.jkvm.isolation;

/**
 * The Landlock ABI version the running kernel offers and the filesystem access rights each
 * version knows. Documentation/userspace-api/landlock.rst ("Backward and forward compatibility")
 * asks for exactly this: ask {@code landlock_create_ruleset(NULL, 0,
 * LANDLOCK_CREATE_RULESET_VERSION)} and handle only the rights the kernel knows, because a
 * ruleset naming an unknown right is refused with EINVAL.
 *
 * <p>Bit values are {@code linux/landlock.h}'s. This machine's installed header stops at
 * {@code LANDLOCK_ACCESS_FS_REFER}; TRUNCATE (ABI 3), IOCTL_DEV (ABI 5) and
 * {@code LANDLOCK_RESTRICT_SELF_TSYNC} (ABI 8, Linux 7.0) are the kernel's newer uapi values.
 */
public record LandlockAbi(int version) {
    public static final long EXECUTE = 1L << 0;
    public static final long WRITE_FILE = 1L << 1;
    public static final long READ_FILE = 1L << 2;
    public static final long READ_DIR = 1L << 3;
    public static final long REMOVE_DIR = 1L << 4;
    public static final long REMOVE_FILE = 1L << 5;
    public static final long MAKE_CHAR = 1L << 6;
    public static final long MAKE_DIR = 1L << 7;
    public static final long MAKE_REG = 1L << 8;
    public static final long MAKE_SOCK = 1L << 9;
    public static final long MAKE_FIFO = 1L << 10;
    public static final long MAKE_BLOCK = 1L << 11;
    public static final long MAKE_SYM = 1L << 12;
    /** ABI 2: linking or renaming a file into another directory. */
    public static final long REFER = 1L << 13;
    /** ABI 3: truncate(2), ftruncate(2), open with O_TRUNC. */
    public static final long TRUNCATE = 1L << 14;
    /** ABI 5: ioctl(2) on character and block devices opened after the restriction. */
    public static final long IOCTL_DEV = 1L << 15;

    /** The rights that apply to a file (not a directory): a rule on a file may grant only these. */
    public static final long FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;

    /** landlock_create_ruleset flag: return the ABI version instead of creating a ruleset. */
    static final int CREATE_RULESET_VERSION = 1;
    /** landlock_restrict_self flag (ABI 8): apply the domain to every thread of the process. */
    static final int RESTRICT_SELF_TSYNC = 1 << 3;

    /** Why Landlock cannot be used here, or null: the answer of the version probe. */
    public record Probe(LandlockAbi abi, String unavailable) {
        public boolean available() {
            return abi != null;
        }
    }

    /**
     * Asks the kernel. ENOSYS: built without CONFIG_SECURITY_LANDLOCK; EOPNOTSUPP: built in but
     * not enabled at boot (not in the {@code lsm=} list), both per landlock.rst.
     */
    public static Probe probe() {
        Syscall.Result r = Syscall.call(Syscall.LANDLOCK_CREATE_RULESET, 0, 0, CREATE_RULESET_VERSION);
        if (!r.failed()) {
            return new Probe(new LandlockAbi((int) r.value()), null);
        }
        String why = switch (r.errno()) {
            case Syscall.ENOSYS -> "the kernel was built without Landlock (CONFIG_SECURITY_LANDLOCK)";
            case Syscall.EOPNOTSUPP -> "Landlock is not enabled at boot (add landlock to the kernel's lsm= list)";
            default -> "landlock_create_ruleset(VERSION): " + io.jkvm.kvm.Native.strerror(r.errno()) + " (errno " + r.errno() + ")";
        };
        return new Probe(null, why);
    }

    /** Every filesystem right this ABI knows: all of them are handled (denied unless a rule allows). */
    public long handledFs() {
        long rights = EXECUTE | WRITE_FILE | READ_FILE | READ_DIR | REMOVE_DIR | REMOVE_FILE | MAKE_CHAR | MAKE_DIR
                | MAKE_REG | MAKE_SOCK | MAKE_FIFO | MAKE_BLOCK | MAKE_SYM;
        if (version >= 2) {
            rights |= REFER;
        }
        if (version >= 3) {
            rights |= TRUNCATE;
        }
        if (version >= 5) {
            rights |= IOCTL_DEV;
        }
        return rights;
    }

    /**
     * Whether landlock_restrict_self can confine every thread at once. Before ABI 8 it confines
     * only the calling thread and the threads it creates afterwards (credentials are per thread).
     */
    public boolean allThreads() {
        return version >= 8;
    }
}
