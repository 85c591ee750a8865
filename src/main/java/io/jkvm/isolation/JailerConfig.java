package io.jkvm.isolation;

import io.jkvm.resources.CgroupSetting;
import io.jkvm.resources.Cgroups;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

/**
 * What {@code jkvm jailer} is asked to build, checked: Firecracker's jailer command line
 * (docs/jailer.md of Firecracker) as a record. Every check names the flag it is about.
 *
 * @param id            the VM's id: 1 to 64 letters, digits or '-' (it names the jail and the cgroup)
 * @param execFile      the VMM launcher, whose file name must contain "firecracker" (as Firecracker's jailer insists)
 * @param chrootBase    where jails are built ({@code /srv/jailer} by default)
 * @param netns         a network namespace to join (a path such as /var/run/netns/NAME), or null
 * @param cgroupVersion 1 or 2: the hierarchy {@code cgroups} are written in
 * @param parentCgroup  the cgroup the VM's own is made in, below each hierarchy's root (null: the exec file's name)
 * @param fileSizeLimit {@code --resource-limit fsize=}: largest file the VMM may write, bytes (null: unlimited)
 * @param openFiles     {@code --resource-limit no-file=}: one more than the highest descriptor (2048 unless given)
 * @param vmmArgs       what follows {@code --}, for the VMM
 */
public record JailerConfig(String id, Path execFile, int uid, int gid, Path chrootBase, Path netns, boolean daemonize,
                           boolean newPidNs, int cgroupVersion, List<CgroupSetting> cgroups, String parentCgroup,
                           Long fileSizeLimit, long openFiles, List<String> vmmArgs) {
    public static final Path DEFAULT_CHROOT_BASE = Path.of("/srv/jailer");
    /** Firecracker's jailer bounds no-file to this when no limit is given. */
    public static final long DEFAULT_OPEN_FILES = 2048;
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9-]{1,64}");
    /** The JVM alone keeps ~30 descriptors open (jars, modules, its own pipes): fewer than this and it cannot start. */
    private static final long MIN_OPEN_FILES = 64;

    public JailerConfig {
        if (id == null || !ID.matcher(id).matches()) {
            throw new IllegalArgumentException("--id '" + id + "': must be 1 to 64 letters, digits or '-'");
        }
        if (execFile == null || !execFile.isAbsolute()) {
            throw new IllegalArgumentException("--exec-file " + execFile + ": an absolute path is required");
        }
        if (!Files.isRegularFile(execFile)) {
            throw new IllegalArgumentException("--exec-file " + execFile + ": no such file");
        }
        if (!execFile.getFileName().toString().contains("firecracker")) {
            throw new IllegalArgumentException("--exec-file " + execFile + ": its file name must contain 'firecracker'"
                    + " (the jailer speaks Firecracker's command line to what it starts)");
        }
        if (uid < 0) {
            throw new IllegalArgumentException("--uid " + Integer.toUnsignedString(uid) + ": not a user id");
        }
        if (gid < 0) {
            throw new IllegalArgumentException("--gid " + Integer.toUnsignedString(gid) + ": not a group id");
        }
        if ((uid == 0) != (gid == 0)) {
            throw new IllegalArgumentException("--uid " + uid + " --gid " + gid + ": both 0 (the VMM stays root in its jail)"
                    + " or both an unprivileged id");
        }
        if (chrootBase == null || !chrootBase.isAbsolute() || chrootBase.normalize().getNameCount() == 0
                || !chrootBase.normalize().equals(chrootBase)) {
            throw new IllegalArgumentException("--chroot-base-dir " + chrootBase
                    + ": an absolute path below / without '.' or '..' is required");
        }
        if (netns != null && !Files.exists(netns)) {
            throw new IllegalArgumentException("--netns " + netns + ": no such network namespace file");
        }
        if (cgroupVersion != 1 && cgroupVersion != 2) {
            throw new IllegalArgumentException("--cgroup-version " + cgroupVersion + ": 1 or 2");
        }
        cgroups = List.copyOf(cgroups);
        try {
            Cgroups.requireParent(parentCgroup);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--" + e.getMessage());
        }
        if (fileSizeLimit != null && fileSizeLimit <= 0) {
            throw new IllegalArgumentException("--resource-limit fsize=" + fileSizeLimit + ": must be a positive number of bytes");
        }
        if (openFiles < MIN_OPEN_FILES || openFiles > (1L << 20)) {
            throw new IllegalArgumentException("--resource-limit no-file=" + openFiles + ": must be " + MIN_OPEN_FILES
                    + " to 1048576 (the VMM's JVM alone keeps dozens of files open)");
        }
        vmmArgs = List.copyOf(vmmArgs);
    }

    /** The last component of the exec file ({@code firecracker} for {@code /usr/bin/firecracker}). */
    public String execName() {
        return execFile.getFileName().toString();
    }

    /** {@code <chroot_base>/<exec_file_name>/<id>/root}: the VMM's root directory. */
    public Path jailRoot() {
        return chrootBase.resolve(execName()).resolve(id).resolve("root");
    }

    /** {@code <exec_file_name>.pid} in the jail's root: the VMM's pid, as seen from the host. */
    public Path pidFile() {
        return jailRoot().resolve(execName() + ".pid");
    }

    /** The cgroup the VM's own is made in: {@code --parent-cgroup}, or the exec file's name (as Firecracker). */
    public String cgroupParent() {
        return parentCgroup != null ? parentCgroup : execName();
    }

    /**
     * Parses {@code --resource-limit} values ({@code fsize=BYTES}, {@code no-file=N}) into the
     * two limits; a later value for the same resource wins, as with Firecracker.
     *
     * @return {fsize or null, no-file}
     */
    public static Long[] resourceLimits(List<String> specs) {
        Long fsize = null;
        long noFile = DEFAULT_OPEN_FILES;
        for (String s : specs) {
            int eq = s.indexOf('=');
            String name = eq < 0 ? s : s.substring(0, eq);
            long value;
            try {
                value = Long.parseLong(s.substring(eq + 1));
            } catch (NumberFormatException | IndexOutOfBoundsException e) {
                throw new IllegalArgumentException("--resource-limit " + s + ": expected RESOURCE=NUMBER, e.g. no-file=1024");
            }
            switch (name) {
                case "fsize" -> fsize = value;
                case "no-file" -> noFile = value;
                default -> throw new IllegalArgumentException("--resource-limit " + s + ": unknown resource '" + name
                        + "' (fsize or no-file)");
            }
        }
        return new Long[] {fsize, noFile};
    }
}
