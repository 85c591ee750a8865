package io.jkvm.api;

import io.jkvm.config.HostLimits;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VmConfig;
import io.jkvm.migration.MigrationException;
import io.jkvm.migration.MigrationTarget;
import io.jkvm.migration.VmShape;
import io.jkvm.net.MacAddress;
import io.jkvm.snapshot.MachineConfig;
import io.jkvm.storage.DiskConfig;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The migration destination decides its own host resources (issue 11, item 6): the kernel, disk
 * images and TAP devices are the ones its operator configured through its API; the source only
 * announces the shape of its devices, which must match, and a mismatch is refused naming it. An
 * unconfigured destination takes the source's recorded paths only with --trust-source-paths.
 */
class IncomingHostPathsTest {
    private static final MachineConfig SOURCE = new MachineConfig(1, 128L << 20, true);
    private static final MacAddress MAC = MacAddress.parse("52:54:00:ab:cd:ef");

    @TempDir
    Path dir;
    private final List<VmConfig> received = new ArrayList<>();
    private VmmController vmm;
    private Path root;
    private Path data;

    @BeforeEach
    void destination() throws Exception {
        GuestLauncher launcher = new GuestLauncher() {
            @Override
            public RunningGuest launch(GuestSpec spec) {
                throw new UnsupportedOperationException();
            }

            @Override
            public MigrationTarget receive(MachineConfig source, VmConfig own, Consumer<RunningGuest> started) {
                received.add(own);
                return null;
            }
        };
        vmm = new VmmController("dst", new HostLimits(4, 8L << 30), launcher,
                new EventLog("test", new ByteArrayOutputStream(), null), OnReboot.EXIT);
        root = Files.write(dir.resolve("root.img"), new byte[64 << 10]);
        data = Files.write(dir.resolve("data.img"), new byte[32 << 10]);
    }

    private static VmShape shape(List<VmShape.Disk> disks, int nics) {
        List<VmShape.Nic> n = new ArrayList<>();
        for (int i = 0; i < nics; i++) {
            n.add(new VmShape.Nic(MAC));
        }
        return new VmShape(disks, n, false, false);
    }

    private static final VmShape TWO_DISKS_ONE_NIC = shape(List.of(new VmShape.Disk("rootfs", false, 64 << 10),
            new VmShape.Disk("data", true, 32 << 10)), 1);

    private void bootSource() throws Exception {
        Path kernel = Files.write(dir.resolve("vmlinux"), new byte[] {0x7f, 'E', 'L', 'F'});
        vmm.handle(new VmmAction.ConfigureBootSource(new BootSource(kernel.toString(), null, "console=ttyS0")));
    }

    private void drive(String id, Path path, boolean root, boolean readOnly) {
        vmm.handle(new VmmAction.InsertDrive(id, new Drive(id, path.toString(), root, readOnly, null, null, null, null, null)));
    }

    private void iface(String id, String tap, String mac) {
        vmm.handle(new VmmAction.InsertNetworkInterface(id, new NetworkInterface(id, tap, mac, null, null)));
    }

    private void refused(VmShape s, String message) {
        assertThatThrownBy(() -> vmm.incomingTarget(SOURCE, s)).isInstanceOf(MigrationException.class).hasMessage(message);
        assertThat(received).as("nothing created").isEmpty();
    }

    @Test
    void anUnconfiguredDestinationDoesNotTakeTheSourcesPaths() {
        refused(TWO_DISKS_ONE_NIC, "this VMM has no configuration of its own for the incoming VM: give it its boot-source,"
                + " drives and network-interfaces through the API before the source connects (or start it with"
                + " --trust-source-paths to use the host paths the source recorded)");
    }

    @Test
    void withTrustSourcePathsAnUnconfiguredDestinationTakesTheSourcesConfiguration() {
        vmm.setTrustSourcePaths(true);
        vmm.incomingTarget(SOURCE, TWO_DISKS_ONE_NIC);
        assertThat(received).containsExactly((VmConfig) null);
    }

    @Test
    void theDestinationsOwnPathsAreUsedInTheSourcesSlotOrder() throws Exception {
        vmm.setTrustSourcePaths(true); // has no effect once this VMM is configured
        bootSource();
        drive("data", data, false, true); // configured in another order than the source's slots
        drive("rootfs", root, true, false);
        iface("eth0", "tap-dst0", null);
        vmm.incomingTarget(SOURCE, TWO_DISKS_ONE_NIC);
        VmConfig own = received.getFirst();
        assertThat(own.kernel()).isEqualTo(dir.resolve("vmlinux"));
        assertThat(own.cpus()).isEqualTo(1);
        assertThat(own.memoryBytes()).isEqualTo(128L << 20);
        assertThat(own.devices().disks()).containsExactly(new DiskConfig(root, false, "rootfs"), new DiskConfig(data, true, "data"));
        assertThat(own.devices().nets()).hasSize(1);
        assertThat(own.devices().nets().getFirst().tap()).isEqualTo("tap-dst0");
        assertThat(own.devices().nets().getFirst().mac()).as("the source's MAC when none is given here").isEqualTo(MAC);
    }

    @Test
    void everyMismatchIsRefusedNamingIt() throws Exception {
        drive("rootfs", root, true, false);
        refused(TWO_DISKS_ONE_NIC, "this VMM has no boot-source (PUT /boot-source): the incoming VM needs this host's kernel");
        bootSource();
        refused(null, "the source did not describe its devices (not a Linux VM this VMM can run)");
        refused(TWO_DISKS_ONE_NIC, "the source has drive 'data', this VMM has no drive with that drive_id (PUT /drives/data)");
        drive("data", data, false, false);
        refused(TWO_DISKS_ONE_NIC, "drive 'data' is writable here and read-only on the source (is_read_only)");
        drive("data", data, false, true);
        refused(shape(List.of(new VmShape.Disk("rootfs", false, 64 << 10), new VmShape.Disk("data", true, 1 << 20)), 1),
                "drive 'data' (" + data + ") has 32768 bytes, the source's has 1048576");
        refused(shape(List.of(new VmShape.Disk("rootfs", false, 64 << 10)), 1),
                "drive 'data' is configured here, but the source has no such drive");
        refused(TWO_DISKS_ONE_NIC, "the source has 1 network interface(s), this VMM has 0 (PUT /network-interfaces/{iface_id})");
        iface("eth0", "tap-dst0", "06:00:00:00:00:01");
        refused(TWO_DISKS_ONE_NIC, "network interface 'eth0' has guest_mac 06:00:00:00:00:01 here, the source's interface 1"
                + " has 52:54:00:ab:cd:ef");
        iface("eth0", "tap-dst0", "52:54:00:AB:CD:EF");
        refused(new VmShape(TWO_DISKS_ONE_NIC.disks(), TWO_DISKS_ONE_NIC.nics(), true, false),
                "the source has a virtio-rng device, which this VMM's API cannot configure");
        refused(shape(List.of(new VmShape.Disk("data", true, 32 << 10), new VmShape.Disk("rootfs", false, 64 << 10)), 1),
                "is_root_device differs: here the drives would be in the PCI slots [rootfs, data], on the source they are in"
                        + " [data, rootfs]");
        vmm.incomingTarget(SOURCE, TWO_DISKS_ONE_NIC);
        assertThat(received).hasSize(1);
    }
}
