package io.jkvm.daemon;

import io.jkvm.api.Drive;
import io.jkvm.api.EventLog;
import io.jkvm.api.FullVmConfiguration;
import io.jkvm.api.NetworkInterface;
import io.jkvm.isolation.UidRange;
import io.jkvm.isolation.VmIdentity;
import io.jkvm.kvm.FileCalls;
import io.jkvm.kvm.Native;
import io.jkvm.kvm.NativeException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

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
     * resolved) and on the status of a descriptor of the file itself, opened without following
     * a link ({@link DriveFile}); the owner and mode are changed through that same file: a file
     * swapped for a link or another file between the check and the change is not the one changed.
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
        try (DriveFile file = DriveFile.open(dir, name)) {
            FileCalls.Stat st = file.stat();
            if (!st.isRegularFile()) {
                // A symbolic link could point anywhere: only a file itself is handed over.
                throw DaemonException.badRequest(field + " " + real + ": must be a regular file, not a link or a device,"
                        + " for a VM that runs as its own user");
            }
            int owner = st.uid();
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
            if (st.nlink() != 1) {
                // Another name for the same inode (a hard link) would be handed over too.
                throw DaemonException.badRequest(field + " " + real + ": has other hard links; give the VM a file of its own");
            }
            String above = vm.unreachable(dir, 1);
            if (above != null) {
                throw DaemonException.badRequest(field + " " + real + ": the VM's user (uid " + vm.uid() + ") cannot reach it: " + above);
            }
            file.giveTo(vm.uid(), vm.gid(), OWNER_READ_WRITE);
        } catch (NativeException | IllegalStateException e) {
            throw DaemonException.failed(field + " " + real + ": cannot give it to uid " + vm.uid() + ": " + e.getMessage());
        }
    }

    /** Mode 0600: the disk is its VM's user's alone. */
    private static final int OWNER_READ_WRITE = 0600;

    /**
     * Gives the VM's writable disks that {@code uid} still owns back to root (mode kept), when
     * the VM is deleted: its uid goes to the next VM defined, which must not find them its own.
     * Best effort, through the file's own descriptor as {@link #handOverDrive}; what fails is logged.
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
                try (DriveFile file = DriveFile.open(dir, given.getFileName())) {
                    if (file.stat().isRegularFile() && file.stat().uid() == uid) {
                        file.giveTo(0, 0, KEEP_MODE);
                    }
                }
            } catch (IOException | RuntimeException e) {
                log.warn("drive_not_taken_back", "drive", d.driveId(), "path", given, "uid", uid, "error", e.getMessage());
            }
        }
    }

    /** {@link DriveFile#giveTo}'s mode for "leave the permission bits as they are". */
    static final int KEEP_MODE = -1;

    /**
     * A drive's file held by an O_PATH descriptor, opened relative to its directory with
     * O_NOFOLLOW on both (open(2)): nothing of a device or FIFO is opened, so naming one has
     * no effect on it, and a symbolic link is held as itself (fstat shows a link, not its
     * target). {@link #stat} is that file's status, and {@link #giveTo} changes that file.
     */
    record DriveFile(int pathFd, FileCalls.Stat stat, String path) implements AutoCloseable {
        static DriveFile open(Path dir, Path name) {
            String path = dir.resolve(name).toString();
            int dirFd = Native.open(dir.toString(), Native.O_RDONLY | FileCalls.O_DIRECTORY | FileCalls.O_NOFOLLOW
                    | Native.O_CLOEXEC);
            try {
                int fd = FileCalls.openat(dirFd, name.toString(), FileCalls.O_PATH | FileCalls.O_NOFOLLOW | Native.O_CLOEXEC,
                        path);
                try {
                    return new DriveFile(fd, FileCalls.fstat(fd, path), path);
                } catch (RuntimeException e) {
                    Native.close(fd);
                    throw e;
                }
            } finally {
                Native.close(dirFd);
            }
        }

        /**
         * fchown to {@code uid}:{@code gid} and, unless {@link #KEEP_MODE}, fchmod to {@code mode},
         * for a regular file only. An O_PATH descriptor refuses both (EBADF), so the file is
         * reopened read-only through /proc/self/fd, which opens the very inode held (proc(5)),
         * not whatever now has its name; the inode is checked all the same.
         */
        void giveTo(int uid, int gid, int mode) {
            if (!stat.isRegularFile()) {
                throw new IllegalStateException(path + " is not a regular file");
            }
            int fd = Native.open("/proc/self/fd/" + pathFd, Native.O_RDONLY | Native.O_CLOEXEC);
            try {
                if (!FileCalls.fstat(fd, path).sameFile(stat)) {
                    throw new IllegalStateException(path + ": /proc/self/fd/" + pathFd + " opened another file");
                }
                FileCalls.fchown(fd, uid, gid, path);
                if (mode != KEEP_MODE) {
                    FileCalls.fchmod(fd, mode, path);
                }
            } finally {
                Native.close(fd);
            }
        }

        @Override
        public void close() {
            Native.close(pathFd);
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
}
