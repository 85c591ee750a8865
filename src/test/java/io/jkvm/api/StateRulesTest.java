package io.jkvm.api;

import io.jkvm.api.VmmAction.*;
import io.jkvm.config.HostLimits;
import io.jkvm.config.OnReboot;
import io.jkvm.vmm.MachineExit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The phase rules of {@link PreBootHandler} and {@link RuntimeHandler}: every action that needs
 * a running guest is refused before boot, every pre-boot action after it and once the guest has
 * stopped, each with a {@link ApiException.Kind#NOT_ALLOWED} message naming the action; reads
 * are answered in every phase. Runs the real controller with a launcher that boots nothing.
 */
class StateRulesTest {
    @TempDir
    Path dir;
    private VmmController vmm;
    private final AtomicInteger launches = new AtomicInteger();
    private final AtomicInteger pauses = new AtomicInteger();
    private final List<String> swaps = new java.util.concurrent.CopyOnWriteArrayList<>();

    @BeforeEach
    void controller() throws IOException {
        EventLog quiet = new EventLog("test", new ByteArrayOutputStream(), null);
        GuestLauncher fake = spec -> {
            launches.incrementAndGet();
            return new IdleGuest() {
                @Override
                public void pause() {
                    pauses.incrementAndGet();
                }

                @Override
                public void replaceDrive(String driveId, Path path) {
                    swaps.add(driveId + " -> " + path);
                }
            };
        };
        vmm = new VmmController("rules", new HostLimits(4, 8L << 30), fake, quiet, OnReboot.EXIT);
    }

    /** Actions that need a guest: refused before boot. */
    private List<VmmAction> runtimeOnly() {
        return List.of(new SendCtrlAltDel(), new Pause(), new Resume(),
                new CreateSnapshot(new SnapshotCreateParams("Full", dir.resolve("s").toString(),
                        dir.resolve("m").toString(), null, null)),
                new StartMigration(new MigrateRequest("tcp:127.0.0.1:1", null, null, null, null)));
    }

    /** Actions that configure or create the guest: refused after boot. */
    private List<VmmAction> preBootOnly() throws IOException {
        Path disk = Files.write(dir.resolve("disk.img"), new byte[4096]);
        return List.of(new ConfigureBootSource(new BootSource(kernel().toString(), null, null)),
                new ConfigureMachine(new MachineConfiguration(1, 32, null, null, null, null)),
                new UpdateMachine(new MachineConfiguration(null, 64, null, null, null, null)),
                new InsertDrive("d", new Drive("d", disk.toString(), false, false, null, null, null, null, null)),
                new InsertNetworkInterface("eth0", new NetworkInterface("eth0", "tap0", null, null, null)),
                new ConfigureLogger(new LoggerConfig(dir.resolve("log").toString(), null, null, null, null)),
                new ConfigureMetrics(new MetricsConfig(dir.resolve("metrics2").toString())),
                new InstanceStart(),
                new LoadSnapshot(new SnapshotLoadParams(dir.resolve("s").toString(), null, dir.resolve("m").toString(),
                        null, null)));
    }

    private Path kernel() throws IOException {
        return StandInGuest.kernelFile(dir);
    }

    private void start() throws IOException {
        Path metrics = Files.createFile(dir.resolve("metrics")); // as in Firecracker, it must exist first
        vmm.handle(new ConfigureMetrics(new MetricsConfig(metrics.toString())));
        vmm.handle(new ConfigureBootSource(new BootSource(kernel().toString(), null, null)));
        vmm.handle(new ConfigureMachine(new MachineConfiguration(1, 32, null, null, null, null)));
        vmm.handle(new InstanceStart());
        assertThat(vmm.state()).isEqualTo(VmmController.State.RUNNING);
    }

    private void refused(VmmAction a, String why) {
        assertThatThrownBy(() -> vmm.handle(a)).as(a.name()).isInstanceOfSatisfying(ApiException.class, e -> {
            assertThat(e.kind()).as(a.name()).isEqualTo(ApiException.Kind.NOT_ALLOWED);
            assertThat(e.status()).isEqualTo(400);
            assertThat(e.getMessage()).as(a.name()).isEqualTo(a.name() + ": " + why);
        });
    }

    @Test
    void beforeBootEveryRuntimeActionIsRefusedNamingIt() {
        for (VmmAction a : runtimeOnly()) {
            refused(a, "The requested operation is not supported before starting the microVM.");
        }
        assertThat(pauses).hasValue(0);
        assertThat(vmm.state()).isEqualTo(VmmController.State.NOT_STARTED);
    }

    @Test
    void afterBootEveryPreBootActionIsRefusedNamingIt() throws IOException {
        start();
        for (VmmAction a : preBootOnly()) {
            refused(a, "The requested operation is not supported after starting the microVM.");
        }
        assertThat(launches).as("InstanceStart once").hasValue(1);
        assertThat(vmm.handle(new GetVmConfig())).isInstanceOfSatisfying(FullVmConfiguration.class,
                c -> assertThat(c.drives()).as("nothing configured after boot").isEmpty());
    }

    @Test
    void afterTheGuestStoppedEverythingButReadsAndMetricsIsRefusedSayingSo() throws IOException {
        start();
        vmm.guestExited(new MachineExit(io.jkvm.vmm.StopReason.POWER_OFF, "test"));
        for (VmmAction a : preBootOnly()) {
            refused(a, "the microVM has stopped");
        }
        for (VmmAction a : List.of(new SendCtrlAltDel(), new Pause(), new Resume(), new StartMigration(
                new MigrateRequest("tcp:127.0.0.1:1", null, null, null, null)))) {
            refused(a, "the microVM has stopped");
        }
        vmm.handle(new FlushMetrics());
        assertThat(vmm.handle(new GetInstanceInfo())).isInstanceOfSatisfying(InstanceInfo.class,
                i -> assertThat(i.state()).isEqualTo("Stopped"));
    }

    @Test
    void readsAreAnsweredInEveryPhase() throws IOException {
        List<VmmAction.Query> reads = List.of(new GetInstanceInfo(), new GetVersion(), new GetMachineConfig(),
                new GetVmConfig(), new GetVcpuReport(), new GetMetrics());
        for (VmmAction.Query q : reads) {
            assertThat(vmm.handle(q)).as(q.name() + " before boot").isNotNull();
        }
        start();
        for (VmmAction.Query q : reads) {
            assertThat(vmm.handle(q)).as(q.name() + " after boot").isNotNull();
        }
        // GET /migrate has nothing to report until a migration was started: a refusal saying so, not a phase rule.
        assertThatThrownBy(() -> vmm.handle(new GetMigrationStatus())).hasMessageContaining("no migration has been started");
    }

    @Test
    void pauseAndResumeMoveThePhase() throws IOException {
        start();
        assertThat(vmm.handle(new Pause())).isNull();
        assertThat(vmm.state()).isEqualTo(VmmController.State.PAUSED);
        assertThat(pauses).hasValue(1);
        vmm.handle(new Resume());
        assertThat(vmm.state()).isEqualTo(VmmController.State.RUNNING);
    }

    @Test
    void aDriveUpdateAfterBootSwapsTheImageRecordsItAndAnUnknownDriveIsABadField() throws IOException {
        Path disk = Files.write(dir.resolve("root.img"), new byte[4096]);
        Path next = Files.write(dir.resolve("next.img"), new byte[8192]);
        vmm.handle(new InsertDrive("root", new Drive("root", disk.toString(), true, false, null, null, null, null, null)));
        start();
        vmm.handle(new UpdateDrive("root", new DriveUpdate("root", next.toString(), null)));
        assertThat(swaps).containsExactly("root -> " + next);
        assertThat(vmm.handle(new GetVmConfig())).isInstanceOfSatisfying(FullVmConfiguration.class,
                c -> assertThat(c.drives().getFirst().pathOnHost()).isEqualTo(next.toString()));
        assertThatThrownBy(() -> vmm.handle(new UpdateDrive("root", new DriveUpdate("root", dir.resolve("none").toString(), null))))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.field()).isEqualTo("path_on_host"));
        assertThat(swaps).as("a refused image is never offered to the guest").hasSize(1);
        // A good image with a bad rate limiter: refused whole, before the device changes.
        Path third = Files.write(dir.resolve("third.img"), new byte[8192]);
        assertThatThrownBy(() -> vmm.handle(new UpdateDrive("root", new DriveUpdate("root", third.toString(),
                new RateLimiter(new TokenBucket(-1L, null, 100L), null)))))
                .isInstanceOf(ApiException.class).hasMessageContaining("rate_limiter.bandwidth.size");
        assertThat(swaps).as("nothing swapped for a refused update").hasSize(1);
        assertThatThrownBy(() -> vmm.handle(new UpdateDrive("other", new DriveUpdate("other", null, null))))
                .isInstanceOfSatisfying(ApiException.class, e -> {
                    assertThat(e.kind()).isEqualTo(ApiException.Kind.BAD_REQUEST);
                    assertThat(e.field()).isEqualTo("drive_id");
                    assertThat(e.getMessage()).contains("no drive 'other'");
                });
    }

    @Test
    void configurationDuringAStartIsRefusedNotLost() throws IOException {
        Path disk = Files.write(dir.resolve("late.img"), new byte[4096]);
        VmmAction late = new InsertDrive("late", new Drive("late", disk.toString(), false, false, null, null, null, null,
                null));
        // A launcher that, while it boots, receives a configuration request (as a second client could send).
        Throwable[] seen = new Throwable[1];
        EventLog quiet = new EventLog("test", new ByteArrayOutputStream(), null);
        VmmController[] self = new VmmController[1];
        self[0] = new VmmController("race", new HostLimits(4, 8L << 30), spec -> {
            try {
                self[0].handle(late);
            } catch (ApiException e) {
                seen[0] = e;
            }
            throw ApiException.badRequest("boot failed in this test");
        }, quiet, OnReboot.EXIT);
        self[0].handle(new ConfigureBootSource(new BootSource(kernel().toString(), null, null)));
        assertThatThrownBy(() -> self[0].handle(new InstanceStart())).hasMessage("boot failed in this test");
        assertThat(seen[0]).isInstanceOfSatisfying(ApiException.class, e -> {
            assertThat(e.kind()).isEqualTo(ApiException.Kind.NOT_ALLOWED);
            assertThat(e.getMessage()).contains("in progress");
        });
        // After the failed start the VM is configurable again.
        self[0].handle(late);
        assertThat(((FullVmConfiguration) self[0].handle(new GetVmConfig())).drives()).hasSize(1);
    }
}
