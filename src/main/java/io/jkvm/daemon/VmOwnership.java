package io.jkvm.daemon;

import io.jkvm.api.Drive;
import io.jkvm.api.EventLog;
import io.jkvm.api.FullVmConfiguration;
import io.jkvm.api.NetworkInterface;
import io.jkvm.isolation.UidRange;
import io.jkvm.isolation.VmIdentity;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SecureDirectoryStream;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipalLookupService;

/**
 * Before a VM's VMM starts as the VM's own user (daemon {@code --vm-uids}): its writable disk
 * images become that user's alone (owner and group the VM's id, mode 0600), as libvirt's
 * dynamic ownership does for QEMU, and its TAP devices that user's to attach. A disk another VM
 * of this daemon owns is refused, so one VM's definition cannot take over another's disk; files
 * the VM's user must read but does not own (the kernel, the initrd, read-only disks) are checked,
 * not changed, and refused naming the field when that user could not read them.
 */
final class VmOwnership {
    private VmOwnership() {}

    /** Directories whose files belong to the system: a writable drive there is refused, not handed over. */
    private static final java.util.List<String> SYSTEM_DIRS = java.util.List.of("/etc", "/usr", "/boot", "/bin", "/sbin",
            "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sys", "/root", "/var/lib/dpkg", "/var/lib/apt");

    /**
     * @param stateRoot the daemon's state directory: its files (definitions, the snapshot key) are
     *     never a VM's disk
     * @throws DaemonException naming the field and file
     */
    static void handOver(FullVmConfiguration config, VmIdentity vm, UidRange range, Path stateRoot) {
        if (config.bootSource() != null) {
            requireReadable("boot-source.kernel_image_path", config.bootSource().kernelImagePath(), vm);
            requireReadable("boot-source.initrd_path", config.bootSource().initrdPath(), vm);
        }
        if (config.drives() != null) {
            for (Drive d : config.drives()) {
                if (d.pathOnHost() != null) {
                    handOverDrive(d, vm, range, stateRoot);
                }
            }
        }
        if (config.networkInterfaces() != null) {
            for (NetworkInterface n : config.networkInterfaces()) {
                String field = "network-interfaces." + n.ifaceId() + ".host_dev_name";
                Integer owner = tapOwner(n.hostDevName());
                if (owner != null && owner != vm.uid() && range.contains(owner)) {
                    throw DaemonException.conflict(field + " " + n.hostDevName() + " belongs to another VM of this daemon (uid "
                            + owner + ")");
                }
                try {
                    io.jkvm.net.Tap.giveTo(n.hostDevName(), vm.uid(), vm.gid());
                } catch (IOException e) {
                    throw DaemonException.failed(field + " " + n.hostDevName() + ": cannot give the TAP to uid " + vm.uid()
                            + ": " + e.getMessage());
                }
            }
        }
    }

    /**
     * One drive. Everything is decided on the real directory (symbolic links and {@code ..}
     * resolved) and done through a handle on it, with no link followed at the last step: a
     * file swapped for a link between the check and the change changes nothing but the link.
     */
    private static void handOverDrive(Drive d, VmIdentity vm, UidRange range, Path stateRoot) {
        String field = "drives." + d.driveId() + ".path_on_host";
        Path given = Path.of(d.pathOnHost()).toAbsolutePath();
        Path dir;
        Path name = given.getFileName();
        try {
            dir = given.getParent().toRealPath();
        } catch (IOException | RuntimeException e) {
            throw DaemonException.badRequest(field + " " + given + ": its directory cannot be resolved: " + e.getMessage());
        }
        Path real = dir.resolve(name);
        try (DirectoryStream<Path> stream = Files.newDirectoryStream(dir)) {
            if (!(stream instanceof SecureDirectoryStream<Path> sds)) {
                throw DaemonException.failed(field + " " + real + ": this host cannot change a file through its directory safely");
            }
            PosixFileAttributeView view = sds.getFileAttributeView(name, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
            PosixFileAttributes a = view.readAttributes();
            if (!a.isRegularFile()) {
                // A symbolic link could point anywhere: only a file itself is handed over.
                throw DaemonException.badRequest(field + " " + real + ": must be a regular file, not a link or a device,"
                        + " for a VM that runs as its own user");
            }
            int owner = attr(real, "unix:uid", field);
            if (owner != vm.uid() && range.contains(owner)) {
                throw DaemonException.conflict(field + " " + real + " belongs to another VM of this daemon (uid " + owner + ")");
            }
            if (d.readOnly()) {
                requireReadable(field, real.toString(), vm);
                return;
            }
            Path state = stateRoot.toAbsolutePath();
            try {
                state = stateRoot.toRealPath();
            } catch (IOException missing) {
                // compared as given
            }
            if (real.startsWith(state)) {
                // The daemon's definitions and snapshot key: a guest given one could rewrite its own uid away or forge snapshots.
                throw DaemonException.badRequest(field + " " + real + ": a file of the daemon's state directory is never a VM's disk");
            }
            for (String system : SYSTEM_DIRS) {
                if (real.startsWith(system)) {
                    // A slip of the keyboard must not give /etc/shadow to a VM: system files are never handed over.
                    throw DaemonException.badRequest(field + " " + real + ": a system file (under " + system
                            + ") is never given to a VM's user; copy the image elsewhere");
                }
            }
            if (attr(real, "unix:nlink", field) != 1) {
                // Another name for the same inode (a hard link) would be handed over too.
                throw DaemonException.badRequest(field + " " + real + ": has other hard links; give the VM a file of its own");
            }
            String above = vm.unreachable(dir, 1);
            if (above != null) {
                throw DaemonException.badRequest(field + " " + real + ": the VM's user (uid " + vm.uid() + ") cannot reach it: " + above);
            }
            // fchownat(AT_SYMLINK_NOFOLLOW) and an O_NOFOLLOW open + fchmod, relative to the directory handle.
            UserPrincipalLookupService users = dir.getFileSystem().getUserPrincipalLookupService();
            view.setGroup(users.lookupPrincipalByGroupName(Integer.toString(vm.gid())));
            view.setOwner(users.lookupPrincipalByName(Integer.toString(vm.uid())));
            view.setPermissions(PosixFilePermissions.fromString("rw-------"));
        } catch (IOException e) {
            throw DaemonException.failed(field + " " + real + ": cannot give it to uid " + vm.uid() + ": " + e.getMessage());
        }
    }

    /**
     * Gives the VM's writable disks that {@code uid} still owns back to root (mode kept), when
     * the VM is deleted: its uid goes to the next VM defined, which must not find them its own.
     * Best effort, through the directory handle as {@link #handOverDrive}; what fails is logged.
     */
    static void takeBack(FullVmConfiguration config, int uid, EventLog log) {
        if (config.drives() == null) {
            return;
        }
        for (Drive d : config.drives()) {
            if (d.pathOnHost() == null || d.readOnly()) {
                continue;
            }
            Path given = Path.of(d.pathOnHost()).toAbsolutePath();
            try {
                Path dir = given.getParent().toRealPath();
                try (DirectoryStream<Path> stream = Files.newDirectoryStream(dir)) {
                    if (stream instanceof SecureDirectoryStream<Path> sds) {
                        PosixFileAttributeView view = sds.getFileAttributeView(given.getFileName(), PosixFileAttributeView.class,
                                LinkOption.NOFOLLOW_LINKS);
                        PosixFileAttributes a = view.readAttributes();
                        if (a.isRegularFile() && ((Number) Files.getAttribute(dir.resolve(given.getFileName()), "unix:uid",
                                LinkOption.NOFOLLOW_LINKS)).intValue() == uid) {
                            UserPrincipalLookupService users = dir.getFileSystem().getUserPrincipalLookupService();
                            view.setOwner(users.lookupPrincipalByName("0"));
                            view.setGroup(users.lookupPrincipalByGroupName("0"));
                        }
                    }
                }
            } catch (IOException | RuntimeException e) {
                log.warn("drive_not_taken_back", "drive", d.driveId(), "path", given, "uid", uid, "error", e.getMessage());
            }
        }
    }

    /** The uid owning TAP {@code name} (/sys/class/net/NAME/owner), or null when it has none or does not exist. */
    private static Integer tapOwner(String name) {
        if (name == null || !name.matches("[A-Za-z0-9_.:-]{1,15}")) {
            return null;
        }
        try {
            long v = Long.parseLong(Files.readString(Path.of("/sys/class/net", name, "owner")).strip());
            return v < 0 || v > Integer.MAX_VALUE ? null : (int) v; // -1: no owner
        } catch (IOException | NumberFormatException e) {
            return null;
        }
    }

    private static void requireReadable(String field, String path, VmIdentity vm) {
        if (path == null) {
            return;
        }
        String why = vm.unreachable(Path.of(path), 4);
        if (why != null) {
            throw DaemonException.badRequest(field + " " + path + ": the VM's user (uid " + vm.uid() + ") cannot read it: " + why);
        }
    }

    private static int attr(Path p, String name, String field) {
        try {
            return ((Number) Files.getAttribute(p, name, LinkOption.NOFOLLOW_LINKS)).intValue();
        } catch (IOException e) {
            throw DaemonException.badRequest(field + " " + p + ": " + e.getMessage());
        }
    }
}
