package io.jkvm.isolation;

import io.jkvm.config.DeviceConfig;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VmConfig;
import io.jkvm.isolation.LandlockPolicy.Access;
import io.jkvm.isolation.LandlockPolicy.Rule;
import io.jkvm.net.NetConfig;
import io.jkvm.storage.DiskConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

/** The policy derived from a VM's configuration, and its own answer to "would this open pass". */
class LandlockPolicyTest {
    @TempDir
    Path dir;

    private VmConfig vm(Path kernel, Path initrd, List<DiskConfig> disks, List<NetConfig> nets) {
        return new VmConfig(kernel, Optional.ofNullable(initrd), "console=ttyS0", 1, 64L << 20, OnReboot.EXIT, false)
                .withDevices(new DeviceConfig(disks, nets, false, false));
    }

    @Test
    void theVmsFilesDevicesAndTheJvmAreInThePolicyAtTheirAccess() throws Exception {
        Path boot = Files.createDirectories(dir.resolve("boot"));
        Path kernel = Files.write(boot.resolve("vmlinux"), new byte[1]);
        Path initrd = Files.write(boot.resolve("initrd"), new byte[1]);
        Path ro = Files.write(Files.createDirectories(dir.resolve("ro")).resolve("base.img"), new byte[1]);
        Path rw = Files.write(Files.createDirectories(dir.resolve("rw")).resolve("data.img"), new byte[1]);
        LandlockPolicy p = LandlockPolicy.forVm(vm(kernel, initrd,
                List.of(new DiskConfig(ro, true, "base"), new DiskConfig(rw, false, "data")), List.of(NetConfig.parse("tap=tap0"))),
                List.of(new Rule(dir.resolve("api"), Access.CREATE, "API socket directory")));

        assertThat(p.rules()).contains(new Rule(kernel, Access.READ, "kernel"), new Rule(initrd, Access.READ, "initrd"),
                new Rule(io.jkvm.kvm.KvmDevice.path(), Access.DEVICE, "KVM"),
                new Rule(Path.of("/dev/net/tun"), Access.DEVICE, "TAP (re-attached on a guest reboot)"),
                new Rule(Path.of(System.getProperty("java.home")), Access.READ, "JDK"),
                new Rule(dir.resolve("api"), Access.CREATE, "API socket directory"));
        assertThat(p.allows(kernel, Access.READ)).isTrue();
        assertThat(p.allows(kernel, Access.READ_WRITE)).as("the kernel is read-only").isFalse();
        assertThat(p.allows(boot.resolve("other"), Access.READ)).as("only the boot files themselves").isFalse();
        assertThat(p.allows(dir.resolve("ro").resolve("next.img"), Access.READ)).as("a read-only drive's directory").isTrue();
        assertThat(p.allows(dir.resolve("ro").resolve("next.img"), Access.READ_WRITE)).isFalse();
        assertThat(p.allows(dir.resolve("rw").resolve("next.img"), Access.READ_WRITE)).isTrue();
        assertThat(p.allows(dir.resolve("rw").resolve("new.img"), Access.CREATE)).as("drives are never created").isFalse();
        assertThat(p.allows(dir.resolve("api").resolve("x.sock"), Access.CREATE)).isTrue();
        assertThat(p.allows(Path.of("/etc/shadow"), Access.READ)).isFalse();
        assertThat(p.directories(Access.READ_WRITE, "drive ")).containsExactly(dir.resolve("rw"));
    }

    @Test
    void aQcow2DrivesBackingChainIsReadableFileByFile() throws Exception {
        Path images = Files.createDirectories(dir.resolve("images"));
        Path base = images.resolve("base.raw");
        Files.write(base, new byte[1 << 20]);
        Path mid = images.resolve("mid.qcow2");
        Path top = images.resolve("top.qcow2");
        qemuImg("create", "-q", "-f", "qcow2", "-b", base.toString(), "-F", "raw", mid.toString());
        qemuImg("create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", top.toString());
        Path kernel = Files.write(dir.resolve("vmlinux"), new byte[1]);
        DiskConfig d = new DiskConfig(top, false, "root", io.jkvm.resources.RateLimitConfig.UNLIMITED,
                io.jkvm.storage.DiskFormat.QCOW2);
        LandlockPolicy p = LandlockPolicy.forVm(vm(kernel, null, List.of(d), List.of()), List.of());
        assertThat(p.rules()).contains(new Rule(mid.toRealPath(), Access.READ, "drive root (its backing file)"),
                new Rule(base.toRealPath(), Access.READ, "drive root (its backing file)"));
        assertThat(p.allows(base.toRealPath(), Access.READ)).isTrue();
    }

    private static void qemuImg(String... args) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/qemu-img")),
                "qemu-img (Debian's qemu-utils) makes the chain; bin/setup-host installs it");
        List<String> cmd = new java.util.ArrayList<>(List.of("/usr/bin/qemu-img"));
        cmd.addAll(List.of(args));
        Process q = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(q.getInputStream().readAllBytes());
        assertThat(q.waitFor()).as(out).isZero();
    }

    @Test
    void noNetworkNoTap() throws Exception {
        Path kernel = Files.write(dir.resolve("vmlinux"), new byte[1]);
        LandlockPolicy p = LandlockPolicy.forVm(vm(kernel, null, List.of(), List.of()), List.of());
        assertThat(p.rules()).extracting(Rule::path).doesNotContain(Path.of("/dev/net/tun"));
    }

    @Test
    void aVsockListenersDirectoryMayHoldNewSockets() throws Exception {
        Path kernel = Files.write(dir.resolve("vmlinux"), new byte[1]);
        Path socks = Files.createDirectories(dir.resolve("socks"));
        VmConfig vm = vm(kernel, null, List.of(), List.of());
        vm = vm.withDevices(vm.devices().withVsock(new io.jkvm.config.VsockConfig(3, socks.resolve("v.sock"))));
        LandlockPolicy p = LandlockPolicy.forVm(vm, List.of());
        assertThat(p.allows(socks.resolve("v.sock"), LandlockPolicy.Access.CREATE)).isTrue();
        assertThat(p.allows(dir.resolve("elsewhere.sock"), LandlockPolicy.Access.CREATE)).isFalse();
    }

    @Test
    void aDriveAtTheTopOrInAHomeDirectoryDoesNotOpenUpItsDirectory() {
        assertThat(LandlockPolicy.tooBroad(Path.of("/"))).isTrue();
        assertThat(LandlockPolicy.tooBroad(Path.of("/tmp"))).isTrue();
        assertThat(LandlockPolicy.tooBroad(Path.of("/home/alice"))).isTrue();
        assertThat(LandlockPolicy.tooBroad(Path.of(System.getProperty("user.home")))).isTrue();
        assertThat(LandlockPolicy.tooBroad(Path.of("/var/lib/jkvm/vms/a"))).isFalse();
        assertThat(LandlockPolicy.tooBroad(Path.of("/home/alice/vms"))).isFalse();
    }

    @Test
    void rightsFollowTheAbi() {
        assertThat(new LandlockAbi(1).handledFs() & LandlockAbi.REFER).isZero();
        assertThat(new LandlockAbi(2).handledFs() & LandlockAbi.TRUNCATE).isZero();
        assertThat(new LandlockAbi(3).handledFs() & LandlockAbi.TRUNCATE).isNotZero();
        assertThat(new LandlockAbi(4).handledFs() & LandlockAbi.IOCTL_DEV).isZero();
        assertThat(new LandlockAbi(5).handledFs() & LandlockAbi.IOCTL_DEV).isNotZero();
        assertThat(new LandlockAbi(7).allThreads()).isFalse();
        assertThat(new LandlockAbi(8).allThreads()).isTrue();
        // A directory rule never grants more on a file than the file rights.
        assertThat(Access.CREATE.rights(false) & ~LandlockAbi.FILE_RIGHTS).isZero();
        assertThat(Access.DEVICE.rights(false) & ~LandlockAbi.FILE_RIGHTS).isZero();
    }

    @Test
    void nineP_isTheFileSystemLandlockCannotHoldAndOthersAreFine() {
        assertThat(FileSystems.landlockUnreliable(Path.of("/proc/self"))).isNull();
        assertThat(FileSystems.landlockUnreliable(dir)).as("a missing or local path").isIn(null,
                dir + " is on a 9p file system, where Landlock's rules do not hold (a new inode at each lookup)");
        assertThat(FileSystems.landlockUnreliable(dir.resolve("missing"))).isNull();
        assertThat(FileSystems.V9FS_MAGIC).isEqualTo(0x01021997L);
    }
}
