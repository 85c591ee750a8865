package io.jkvm.daemon;

import io.jkvm.api.Drive;
import io.jkvm.api.FullVmConfiguration;
import io.jkvm.api.NetworkInterface;
import io.jkvm.isolation.UidRange;
import io.jkvm.isolation.VmIdentity;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

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

    /** @throws DaemonException naming the field and file */
    static void handOver(FullVmConfiguration config, VmIdentity vm, UidRange range) {
        if (config.bootSource() != null) {
            requireReadable("boot-source.kernel_image_path", config.bootSource().kernelImagePath(), vm);
            requireReadable("boot-source.initrd_path", config.bootSource().initrdPath(), vm);
        }
        if (config.drives() != null) {
            for (Drive d : config.drives()) {
                if (d.pathOnHost() == null) {
                    continue;
                }
                String field = "drives." + d.driveId() + ".path_on_host";
                Path p = Path.of(d.pathOnHost()).toAbsolutePath();
                if (!Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    // A symbolic link could point anywhere, and chown follows it: only the file itself is handed over.
                    throw DaemonException.badRequest(field + " " + p + ": must be a regular file, not a link or a device,"
                            + " for a VM that runs as its own user");
                }
                int owner = attr(p, "unix:uid", field);
                if (owner != vm.uid() && range.contains(owner)) {
                    throw DaemonException.conflict(field + " " + p + " belongs to another VM of this daemon (uid " + owner + ")");
                }
                if (d.readOnly()) {
                    requireReadable(field, d.pathOnHost(), vm);
                    continue;
                }
                for (String system : SYSTEM_DIRS) {
                    if (p.startsWith(system)) {
                        // A slip of the keyboard must not give /etc/shadow to a VM: system files are never handed over.
                        throw DaemonException.badRequest(field + " " + p + ": a system file (under " + system
                                + ") is never given to a VM's user; copy the image elsewhere");
                    }
                }
                if (attr(p, "unix:nlink", field) != 1) {
                    // Another name for the same inode (a hard link) would be handed over too.
                    throw DaemonException.badRequest(field + " " + p + ": has other hard links; give the VM a file of its own");
                }
                String above = vm.unreachable(p.getParent(), 1);
                if (above != null) {
                    throw DaemonException.badRequest(field + " " + p + ": the VM's user (uid " + vm.uid() + ") cannot reach it: " + above);
                }
                try {
                    Files.setAttribute(p, "unix:gid", vm.gid(), LinkOption.NOFOLLOW_LINKS);
                    Files.setAttribute(p, "unix:uid", vm.uid(), LinkOption.NOFOLLOW_LINKS);
                    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-------"));
                } catch (IOException e) {
                    throw DaemonException.failed(field + " " + p + ": cannot give it to uid " + vm.uid() + ": " + e.getMessage());
                }
            }
        }
        if (config.networkInterfaces() != null) {
            for (NetworkInterface n : config.networkInterfaces()) {
                try {
                    io.jkvm.net.Tap.giveTo(n.hostDevName(), vm.uid(), vm.gid());
                } catch (IOException e) {
                    throw DaemonException.failed("network-interfaces." + n.ifaceId() + ".host_dev_name " + n.hostDevName()
                            + ": cannot give the TAP to uid " + vm.uid() + ": " + e.getMessage());
                }
            }
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
