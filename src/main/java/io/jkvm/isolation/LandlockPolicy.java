package io.jkvm.isolation;

import io.jkvm.config.VmConfig;
import io.jkvm.storage.DiskConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The files a running VMM may open, derived from its VM's configuration: Landlock denies every
 * other open (Documentation/userspace-api/landlock.rst). Files opened before the restriction
 * stay usable whatever the policy says (Landlock checks at open), so this lists what the VMM and
 * the JVM under it open <em>after</em> start: the boot files again and the disks on a guest
 * reboot with on-reboot=restart, a drive swapped by PATCH /drives, TAP and /dev/kvm, the API's
 * files, and what the JVM itself touches ({@link JvmPaths}).
 *
 * <p>Hot-swapped drives: Landlock cannot add a rule after landlock_restrict_self, so each drive
 * gets a rule on its <em>directory</em> (read-only or read-write as the drive), and a swap to an
 * image in another directory is refused before anything changes ({@link #allows}, checked by the
 * API with a 400 naming path_on_host). Images a client swaps in live next to the first one, as
 * container runtimes keep a VM's images in one directory.
 */
public record LandlockPolicy(List<Rule> rules) {
    public LandlockPolicy {
        rules = List.copyOf(rules);
    }

    /** What a rule grants beneath its path. */
    public enum Access {
        /** Read files (and list directories). */
        READ(LandlockAbi.READ_FILE, LandlockAbi.READ_FILE | LandlockAbi.READ_DIR),
        /** Read, write and truncate existing files; no file is created or removed. */
        READ_WRITE(LandlockAbi.READ_FILE | LandlockAbi.WRITE_FILE | LandlockAbi.TRUNCATE,
                LandlockAbi.READ_FILE | LandlockAbi.WRITE_FILE | LandlockAbi.TRUNCATE | LandlockAbi.READ_DIR),
        /** READ_WRITE plus creating and removing files and sockets (a directory the VMM writes into). */
        CREATE(LandlockAbi.READ_FILE | LandlockAbi.WRITE_FILE | LandlockAbi.TRUNCATE,
                LandlockAbi.READ_FILE | LandlockAbi.WRITE_FILE | LandlockAbi.TRUNCATE | LandlockAbi.READ_DIR
                        | LandlockAbi.MAKE_REG | LandlockAbi.MAKE_SOCK | LandlockAbi.REMOVE_FILE),
        /** A device node: read, write and ioctl (TAP's TUNSETIFF on a re-opened /dev/net/tun). */
        DEVICE(LandlockAbi.READ_FILE | LandlockAbi.WRITE_FILE | LandlockAbi.IOCTL_DEV, 0);

        private final long fileRights;
        private final long dirRights;

        Access(long fileRights, long dirRights) {
            this.fileRights = fileRights;
            this.dirRights = dirRights;
        }

        long rights(boolean directory) {
            return directory ? dirRights : fileRights;
        }

        boolean covers(Access wanted) {
            return wanted == READ || (wanted == READ_WRITE && this != READ) || wanted == this;
        }
    }

    /** One path-beneath rule; {@code why} says where it comes from (shown in tests and logs). */
    public record Rule(Path path, Access access, String why) {
        public Rule {
            path = path.toAbsolutePath().normalize();
        }
    }

    /**
     * The policy of a VM: its own files, the device nodes a VMM opens, what the JVM needs, and
     * {@code vmmPaths} (the API socket's directory, log and metrics files, the snapshot key's
     * state directory...: what the front end around the VM knows about).
     */
    public static LandlockPolicy forVm(VmConfig config, List<Rule> vmmPaths) {
        List<Rule> rules = new ArrayList<>();
        // Read again on a guest reboot with on-reboot=restart (the machine is built from scratch).
        rules.add(new Rule(config.kernel(), Access.READ, "kernel"));
        config.initrd().ifPresent(p -> rules.add(new Rule(p, Access.READ, "initrd")));
        for (DiskConfig d : config.devices().disks()) {
            Access a = d.readOnly() ? Access.READ : Access.READ_WRITE;
            rules.add(new Rule(d.path(), a, "drive " + d.id()));
            Path dir = d.path().toAbsolutePath().getParent();
            if (dir != null && !tooBroad(dir)) {
                rules.add(new Rule(dir, a, "drive " + d.id() + " (its directory: swaps by PATCH /drives)"));
            }
            // A qcow2 drive's backing chain is opened read-only with it, at boot and each guest
            // reboot; a rule per file, since the directory rule above may be missing (too broad).
            for (Path backing : io.jkvm.storage.DiskImages.backingFiles(d)) {
                rules.add(new Rule(backing, Access.READ, "drive " + d.id() + " (its backing file)"));
            }
        }
        rules.add(new Rule(io.jkvm.kvm.KvmDevice.path(), Access.DEVICE, "KVM"));
        // Guest RAM filled on first touch: a lazy snapshot restore, a post-copy migration's destination.
        rules.add(new Rule(Path.of("/dev/userfaultfd"), Access.DEVICE, "userfaultfd (lazy restore, post-copy)"));
        if (!config.devices().nets().isEmpty()) {
            rules.add(new Rule(Path.of("/dev/net/tun"), Access.DEVICE, "TAP (re-attached on a guest reboot)"));
        }
        if (config.devices().vsock() != null && !tooBroad(config.devices().vsock().udsPath().toAbsolutePath().getParent())) {
            // The hybrid vsock listener is bound at uds_path (again on a guest reboot, unlinking
            // the old socket first); guest connections go to <uds_path>_<port> in the same directory.
            Path dir = config.devices().vsock().udsPath().toAbsolutePath().getParent();
            if (dir != null) {
                rules.add(new Rule(dir, Access.CREATE, "vsock uds_path's directory (its listener, re-bound on a guest reboot)"));
            }
        }
        // --ksm: whether ksmd runs is read again at each boot (a warning otherwise).
        rules.add(new Rule(Path.of("/sys/kernel/mm/ksm"), Access.READ, "KSM state"));
        rules.addAll(JvmPaths.rules());
        rules.addAll(vmmPaths);
        return new LandlockPolicy(rules);
    }

    /**
     * Directories a rule must not open up as a whole: a drive or socket placed at the top of the
     * file system, a home directory or a shared temporary directory would otherwise give the VMM
     * (and a guest that escapes into it) everything beside it, such as ~/.ssh. Such a drive keeps
     * its own file rule; swapping it by PATCH /drives then needs a directory of its own.
     */
    static boolean tooBroad(Path dir) {
        if (dir == null) {
            return true;
        }
        Path d = dir.toAbsolutePath().normalize();
        String home = System.getProperty("user.home");
        return d.getParent() == null || d.equals(Path.of("/home")) || d.equals(Path.of("/root"))
                || d.equals(Path.of("/tmp")) || d.equals(Path.of("/var/tmp")) || d.equals(Path.of("/dev/shm"))
                || (home != null && d.equals(Path.of(home).toAbsolutePath().normalize()))
                || (d.getParent() != null && d.getParent().equals(Path.of("/home")));
    }

    /**
     * Whether a file opened after the restriction at {@code path} would be allowed {@code access}:
     * the check a request makes before it changes anything, so a path Landlock would refuse is a
     * clear 400 instead of an EACCES half way. Symbolic links are resolved as the kernel resolves them.
     */
    public boolean allows(Path path, Access access) {
        Path p = real(path);
        for (Rule r : rules) {
            if (p.startsWith(real(r.path())) && r.access().covers(access)) {
                return true;
            }
        }
        return false;
    }

    /** The directories that allow {@code access} (for messages: where a swapped image may live). */
    public List<Path> directories(Access access, String whyPrefix) {
        return rules.stream().filter(r -> r.why().startsWith(whyPrefix) && r.access().covers(access)
                && Files.isDirectory(r.path())).map(Rule::path).distinct().toList();
    }

    private static Path real(Path p) {
        Path abs = p.toAbsolutePath().normalize();
        try {
            return abs.toRealPath();
        } catch (IOException e) {
            Path parent = abs.getParent();
            return parent == null || parent.equals(abs) ? abs : real(parent).resolve(abs.getFileName());
        }
    }
}
