package io.jkvm.api;

import io.jkvm.api.VmmAction.*;
import io.jkvm.config.HostLimits;
import io.jkvm.config.OnReboot;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Where jkvm answers as Firecracker does (facts from Firecracker's rpc_interface.rs,
 * parsed_request.rs and its getting-started guide): what is refused before boot, an empty PATCH,
 * relative paths, the root drive's partuuid, io_engine, and the version clients compare.
 */
class FirecrackerConformanceTest {
    @TempDir
    Path dir;
    private VmmController vmm;
    private AtomicReference<GuestSpec> launched;
    private RecordingController controller;

    @BeforeEach
    void controller() {
        controller = new RecordingController();
        vmm = controller.vmm;
        launched = controller.launched;
    }

    private void bootSource() throws IOException {
        controller.bootSource(dir);
    }

    private static Drive drive(String id, String path, boolean root, String partuuid, String ioEngine) {
        return new Drive(id, path, root, false, partuuid, null, ioEngine, null, null);
    }

    @Test
    void driveAndInterfaceUpdatesAndFlushMetricsAreRefusedBeforeBootAsFirecrackerRefusesThem() throws IOException {
        Path disk = Files.write(dir.resolve("root.img"), new byte[4096]);
        vmm.handle(new InsertDrive("root", drive("root", disk.toString(), true, null, null)));
        vmm.handle(new InsertNetworkInterface("eth0", new NetworkInterface("eth0", "tap0", null, null, null)));
        for (VmmAction a : List.of(new UpdateDrive("root", new DriveUpdate("root", disk.toString(), null)),
                new UpdateNetworkInterface("eth0", new NetworkInterfaceUpdate("eth0", null, null)), new FlushMetrics())) {
            assertThatThrownBy(() -> vmm.handle(a)).as(a.name())
                    .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.kind()).isEqualTo(ApiException.Kind.NOT_ALLOWED))
                    .hasMessage(a.name() + ": The requested operation is not supported before starting the microVM.");
        }
    }

    @Test
    void anEmptyMachineConfigPatchIsRefused() {
        assertThatThrownBy(() -> ActionParser.parse("PATCH", "/machine-config", "{}".getBytes()))
                .isInstanceOf(ApiException.class).hasMessage("Empty PATCH request.");
        assertThat(ActionParser.parse("PATCH", "/machine-config", "{\"mem_size_mib\": 64}".getBytes()))
                .isInstanceOf(UpdateMachine.class);
    }

    @Test
    void relativePathsAreTakenFromTheWorkingDirectoryAndBootWithAbsoluteOnes() throws IOException {
        // Surefire runs in the project directory: a file under target/ named relatively, as the
        // getting-started guide names ./ubuntu-24.04.ext4 and ./firecracker.log.
        Path cwd = Path.of("").toAbsolutePath();
        Path disk = Files.createTempFile(cwd.resolve("target"), "relative-drive", ".img");
        try {
            Files.write(disk, new byte[4096]);
            String relative = "./" + cwd.relativize(disk);
            bootSource();
            vmm.handle(new InsertDrive("rootfs", drive("rootfs", relative, true, null, null)));
            vmm.handle(new ConfigureLogger(new LoggerConfig("./target/relative-test.log", "Info", null, null, null)));
            vmm.handle(new InstanceStart());
            Path used = launched.get().config().devices().disks().getFirst().path();
            assertThat(used).isAbsolute();
            assertThat(Files.isSameFile(used, disk)).as(used + " is " + disk).isTrue();
        } finally {
            Files.deleteIfExists(disk);
            Files.deleteIfExists(cwd.resolve("target/relative-test.log"));
        }
    }

    @Test
    void theRootDrivesPartuuidBecomesTheRootArgument() throws IOException {
        Path disk = Files.write(dir.resolve("root.img"), new byte[4096]);
        bootSource();
        vmm.handle(new InsertDrive("root", drive("root", disk.toString(), true, "0cbf4b6e-01", null)));
        vmm.handle(new InstanceStart());
        assertThat(launched.get().config().cmdline()).endsWith(" root=PARTUUID=0cbf4b6e-01 rw").doesNotContain("/dev/vda");
    }

    @Test
    void aPartuuidThatIsNotAnIdOrNotOnTheRootIsRefusedNamingTheField() throws IOException {
        Path disk = Files.write(dir.resolve("d.img"), new byte[4096]);
        for (Drive d : List.of(drive("r", disk.toString(), true, "1234 init=/bin/sh", null),
                drive("r", disk.toString(), true, "", null),
                drive("r", disk.toString(), false, "0cbf4b6e-01", null))) {
            assertThatThrownBy(() -> vmm.handle(new InsertDrive("r", d))).as(d.partuuid())
                    .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.field()).isEqualTo("partuuid"));
        }
        vmm.handle(new InsertDrive("r", drive("r", disk.toString(), true,
                "8d6a5bd0-8e6c-4e33-a1c4-f3d2b3e0e8aa/PARTNROFF=1", null)));
    }

    @Test
    void theAsyncIoEngineIsRefusedRatherThanIgnored() throws IOException {
        Path disk = Files.write(dir.resolve("d.img"), new byte[4096]);
        assertThatThrownBy(() -> vmm.handle(new InsertDrive("d", drive("d", disk.toString(), false, null, "Async"))))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.field()).isEqualTo("io_engine"))
                .hasMessageContaining("Async");
        vmm.handle(new InsertDrive("d", drive("d", disk.toString(), false, null, "Sync")));
    }

    @Test
    void theFormatExtensionTakesRawOrQcow2AndNamesItselfOtherwise() throws IOException {
        Path disk = Files.write(dir.resolve("f.img"), new byte[4096]);
        Drive vmdk = new Drive("f", disk.toString(), false, false, null, null, null, null, null, "vmdk");
        assertThatThrownBy(() -> vmm.handle(new InsertDrive("f", vmdk)))
                .isInstanceOfSatisfying(ApiException.class, e -> {
                    assertThat(e.field()).isEqualTo("format");
                    assertThat(e.status()).isEqualTo(400);
                })
                .hasMessageContaining("vmdk");
        Drive qcow2 = new Drive("f", disk.toString(), false, false, null, null, null, null, null, "qcow2");
        vmm.handle(new InsertDrive("f", qcow2));
        assertThat(qcow2.diskFormat()).isEqualTo(io.jkvm.storage.DiskFormat.QCOW2);
        assertThat(new Drive("f", disk.toString(), false, false, null, null, null, null, null).diskFormat())
                .isEqualTo(io.jkvm.storage.DiskFormat.RAW);
    }

    @Test
    void theUnsafeCacheIsRefusedAndWritebackIsWhatJkvmDoes() throws IOException {
        Path disk = Files.write(dir.resolve("c.img"), new byte[4096]);
        assertThatThrownBy(() -> vmm.handle(new InsertDrive("c",
                new Drive("c", disk.toString(), false, false, null, "Unsafe", null, null, null))))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.field()).isEqualTo("cache_type"));
        vmm.handle(new InsertDrive("c", new Drive("c", disk.toString(), false, false, null, "Writeback", null, null, null)));
    }

    @Test
    void theVersionIsASemanticVersionAtTheFirecrackerApiLevel() {
        @SuppressWarnings("unchecked")
        Map<String, String> v = (Map<String, String>) vmm.handle(new GetVersion());
        assertThat(v.get("firecracker_version")).matches("\\d+\\.\\d+\\.\\d+").isEqualTo(Versions.FIRECRACKER_API);
        assertThat(Versions.JKVM).matches("\\d+\\.\\d+\\.\\d+");
    }

    @Test
    void entropyAddsAVirtioRngAndSerialOutputGoesToItsPathBothShownInTheConfiguration() throws IOException {
        bootSource();
        vmm.handle(ActionParser.parse("PUT", "/entropy", "{}".getBytes()));
        Path out = dir.resolve("serial.log");
        vmm.handle(ActionParser.parse("PUT", "/serial", ("{\"serial_out_path\": \"" + out + "\"}").getBytes()));
        assertThat(vmm.handle(new GetVmConfig())).isInstanceOfSatisfying(FullVmConfiguration.class, c -> {
            assertThat(c.entropy()).isNotNull();
            assertThat(c.serial().serialOutPath()).isEqualTo(out.toString());
        });
        vmm.handle(new InstanceStart());
        assertThat(launched.get().config().devices().rng()).as("virtio-rng attached").isTrue();
        assertThat(launched.get().serialOutPath()).isEqualTo(out);
    }

    @Test
    void limitsThatAreNotEnforcedYetAreRefusedNamingTheField() {
        String limiting = "{\"bandwidth\": {\"size\": 1000, \"refill_time\": 100}}";
        for (String[] req : List.of(new String[] {"/entropy", "{\"rate_limiter\": " + limiting + "}"},
                new String[] {"/serial", "{\"rate_limiter\": {\"size\": 1000, \"refill_time\": 100}}"})) {
            assertThatThrownBy(() -> vmm.handle(ActionParser.parse("PUT", req[0], req[1].getBytes()))).as(req[0])
                    .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.field()).isEqualTo("rate_limiter"));
        }
    }

    @Test
    void aNamedPipeWithoutAReaderIsRefusedInsteadOfHangingInstanceStart() throws Exception {
        Path fifo = dir.resolve("serial.fifo");
        assertThat(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor()).isZero();
        assertThatThrownBy(() -> SerialOutput.open(fifo))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.field()).isEqualTo("serial_out_path"))
                .hasMessageContaining("nobody reads");
    }

    @Test
    void theConfigFileTakesTheEntropyAndSerialSections() {
        FullVmConfiguration doc = Json.parse(("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"entropy\": {},"
                + " \"serial\": {\"serial_out_path\": \"/tmp/x\"}}").getBytes(), FullVmConfiguration.class);
        assertThat(ConfigFile.actions(doc)).hasAtLeastOneElementOfType(ConfigureEntropy.class)
                .hasAtLeastOneElementOfType(ConfigureSerial.class);
    }

    @Test
    void hugePagesAreCheckedAgainstTheHostPoolBeforeBootAndReachTheGuestSpec() {
        VmConfiguration c = new VmConfiguration("hp", new HostLimits(4, 8L << 30), OnReboot.EXIT,
                new EventLog("test", new ByteArrayOutputStream(), null));
        c.validation().hugePagePool(bytes -> bytes > (64L << 20) ? "the host's hugetlb pool has 32 free 2 MiB pages" : null);
        c.apply(new ConfigureMachine(new MachineConfiguration(1, 64, null, null, null, "2M")));
        assertThat(c.machine().hugePages()).isEqualTo("2M");
        assertThatThrownBy(() -> c.apply(new ConfigureMachine(new MachineConfiguration(1, 128, null, null, null, "2M"))))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.field()).isEqualTo("huge_pages"))
                .hasMessageContaining("32 free");
        assertThatThrownBy(() -> c.apply(new ConfigureMachine(new MachineConfiguration(1, 63, null, null, null, "2M"))))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.field()).isEqualTo("mem_size_mib"));
        assertThatThrownBy(() -> c.apply(new ConfigureMachine(new MachineConfiguration(1, 64, null, null, null, "1G"))))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.field()).isEqualTo("huge_pages"));
        c.apply(new ConfigureMachine(new MachineConfiguration(1, 128, null, null, null, "Transparent")));
        c.apply(new ConfigureBootSource(new BootSource(kernelPath().toString(), null, null)));
        assertThat(c.toGuestSpec().ramBacking()).isEqualTo(io.jkvm.memory.RamBacking.TRANSPARENT);
    }

    private Path kernelPath() {
        try {
            return StandInGuest.kernelFile(dir);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void metricsTakeEmitIdAndPropertiesAndFlushMetricsWritesFirecrackersLayout() throws Exception {
        bootSource();
        Path missing = dir.resolve("metrics.missing");
        assertThatThrownBy(() -> vmm.handle(new ConfigureMetrics(new MetricsConfig(missing.toString()))))
                .isInstanceOf(ApiException.class).hasMessageContaining("metrics_path").hasMessageContaining("create");
        Path metrics = Files.createFile(dir.resolve("metrics.file"));
        vmm.handle(ActionParser.parse("PUT", "/metrics", ("{\"metrics_path\": \"" + metrics
                + "\", \"emit_id\": true, \"properties\": {\"pod\": \"web-1\"}}").getBytes()));
        assertThatThrownBy(() -> ActionParser.parse("PUT", "/metrics", "{\"metrics_path\": \"x\", \"emit\": 1}".getBytes()))
                .isInstanceOf(ApiException.class).hasMessageContaining("emit");
        assertThat(vmm.handle(new GetVmConfig())).isInstanceOfSatisfying(FullVmConfiguration.class,
                c -> assertThat(Json.write(c)).contains("\"emit_id\":true").contains("\"pod\":\"web-1\""));
        vmm.handle(new InstanceStart());
        vmm.handle(new FlushMetrics());
        var line = Json.MAPPER.readTree(Files.readAllLines(metrics).getLast());
        assertThat(line.path("id").asText()).isEqualTo("fc");
        assertThat(line.path("properties").path("pod").asText()).isEqualTo("web-1");
        assertThat(line.path("put_api_requests").isObject()).isTrue();
        assertThat(line.has("vcpu_count")).as("jkvm's own layout stays on GET /jkvm/metrics").isFalse();
    }
}
