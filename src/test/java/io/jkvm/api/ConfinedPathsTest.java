package io.jkvm.api;

import io.jkvm.api.VmmAction.*;
import io.jkvm.config.HostLimits;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VmConfig;
import io.jkvm.isolation.LandlockPolicy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * PATCH /drives and snapshot paths against the Landlock policy the VMM confined itself to (the
 * policy is only recorded here: nothing confines the test JVM).
 */
class ConfinedPathsTest {
    @TempDir
    Path dir;

    private VmmController started(Path disk, AtomicReference<String> swapped) throws Exception {
        EventLog quiet = new EventLog("test", new ByteArrayOutputStream(), null);
        GuestLauncher fake = spec -> new IdleGuest() {
            @Override
            public void replaceDrive(String driveId, Path path) {
                swapped.set(path.toString());
            }
        };
        VmmController vmm = new VmmController("confined", new HostLimits(4, 8L << 30), fake, quiet, OnReboot.EXIT);
        Path kernel = StandInGuest.kernelFile(dir);
        vmm.handle(new InsertDrive("root", new Drive("root", disk.toString(), true, false, null, null, null, null, null)));
        vmm.handle(new ConfigureBootSource(new BootSource(kernel.toString(), null, null)));
        vmm.handle(new ConfigureMachine(new MachineConfiguration(1, 32, null, null, null, null)));
        vmm.handle(new InstanceStart());
        VmConfig config = new VmConfig(kernel, java.util.Optional.empty(), "console=ttyS0", 1, 32L << 20, OnReboot.EXIT, false)
                .withDevices(new io.jkvm.config.DeviceConfig(List.of(new io.jkvm.storage.DiskConfig(disk, false, "root")),
                        List.of(), false, false));
        vmm.setConfinedTo(LandlockPolicy.forVm(config, List.of()), false);
        return vmm;
    }

    @Test
    void aSwapInTheDrivesDirectoryIsTakenAndOneElsewhereIsA400NamingTheField() throws Exception {
        Path disks = Files.createDirectories(dir.resolve("disks"));
        Path disk = Files.write(disks.resolve("root.img"), new byte[4096]);
        Path next = Files.write(disks.resolve("next.img"), new byte[8192]);
        Path elsewhere = Files.write(Files.createDirectories(dir.resolve("elsewhere")).resolve("x.img"), new byte[4096]);
        AtomicReference<String> swapped = new AtomicReference<>();
        VmmController vmm = started(disk, swapped);

        vmm.handle(new UpdateDrive("root", new DriveUpdate("root", next.toString(), null)));
        assertThat(swapped.get()).isEqualTo(next.toString());

        assertThatThrownBy(() -> vmm.handle(new UpdateDrive("root", new DriveUpdate("root", elsewhere.toString(), null))))
                .isInstanceOfSatisfying(ApiException.class, e -> {
                    assertThat(e.field()).isEqualTo("path_on_host");
                    assertThat(e.getMessage()).contains(elsewhere.toString()).contains("Landlock").contains("put the image in " + disks);
                });
        assertThat(swapped.get()).as("nothing swapped for a refused image").isEqualTo(next.toString());
    }

    @Test
    void aSymbolicLinkIntoTheDrivesDirectoryIsJudgedByWhereItLeads() throws Exception {
        Path disks = Files.createDirectories(dir.resolve("disks"));
        Path disk = Files.write(disks.resolve("root.img"), new byte[4096]);
        Path outside = Files.write(Files.createDirectories(dir.resolve("elsewhere")).resolve("x.img"), new byte[4096]);
        Path link = Files.createSymbolicLink(disks.resolve("link.img"), outside);
        VmmController vmm = started(disk, new AtomicReference<>());
        // Landlock follows the link to elsewhere/x.img: so does the check.
        assertThatThrownBy(() -> vmm.handle(new UpdateDrive("root", new DriveUpdate("root", link.toString(), null))))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.field()).isEqualTo("path_on_host"));
    }

    @Test
    void snapshotPathsAreOnlyCheckedWhereLandlockBindsEveryThread() throws Exception {
        Path disks = Files.createDirectories(dir.resolve("disks"));
        Path disk = Files.write(disks.resolve("root.img"), new byte[4096]);
        VmmController vmm = started(disk, new AtomicReference<>());
        Path outside = dir.resolve("snaps").resolve("vm.state");
        ConfinedPaths.checkCreated(vmm, "snapshot_path", outside); // per-thread Landlock: the API thread is free
        LandlockPolicy policy = vmm.confinedTo();
        vmm.setConfinedTo(policy, true);
        assertThatThrownBy(() -> ConfinedPaths.checkCreated(vmm, "snapshot_path", outside))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.field()).isEqualTo("snapshot_path"));
        vmm.setConfinedTo(new LandlockPolicy(List.of(new LandlockPolicy.Rule(dir.resolve("snaps"),
                LandlockPolicy.Access.CREATE, "test"))), true);
        ConfinedPaths.checkCreated(vmm, "snapshot_path", outside);
    }
}
