package io.jkvm.api;

import io.jkvm.testing.Patience;
import com.fasterxml.jackson.databind.JsonNode;
import io.jkvm.testing.JkvmCommand;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.RawHttp;
import io.jkvm.testing.TestKernels;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Direct KVM: {@code jkvm run --api-sock} as a separate process, driven with real HTTP over its
 * Unix socket like a Firecracker client would, booting a purpose-built test kernel.
 */
@Tag("kvm")
class VmmApiDirectTest {
    @TempDir
    Path dir;

    @BeforeEach
    void kvm() {
        KvmAvailable.assume();
    }

    private Process startVmm(Path sock, Path serial, Path events, String... extra) throws IOException {
        List<String> cmd = new java.util.ArrayList<>(JkvmCommand.of("run", "--api-sock", sock.toString(), "--id", "vm-under-test"));
        cmd.addAll(List.of(extra));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(serial.toFile()).redirectError(events.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        pb.environment().put("JKVM_API_IDLE_MS", "1500");
        return pb.start();
    }

    private static JsonNode json(RawHttp.Reply r) throws IOException {
        return Json.MAPPER.readTree(r.body());
    }

    private static RawHttp.Reply call(Path sock, String method, String path, String body) throws IOException {
        return RawHttp.request(sock, method, path, body);
    }

    /** Asserts a 400 whose fault_message mentions {@code words}. */
    private static void assertFault(RawHttp.Reply r, String... words) throws IOException {
        assertThat(r.status()).as(r.raw()).isEqualTo(400);
        String msg = json(r).path("fault_message").asText();
        for (String w : words) {
            assertThat(msg).as(r.raw()).contains(w);
        }
    }

    private static void await(String what, Duration timeout, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime() < deadline).as("timed out waiting for " + what).isTrue();
            Thread.sleep(20);
        }
    }

    private static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return "";
        }
    }

    @Test
    void configuresBootsPausesResumesAndRebootsOnCtrlAltDelThroughTheApi() {
        Patience.hangDetector(180, () -> {
            Path sock = dir.resolve("api.sock");
            Path serial = dir.resolve("serial.out");
            Path events = dir.resolve("vmm.err");
            Path kernel = TestKernels.rebootsOnCtrlAltDel(dir);
            Path disk = Files.write(dir.resolve("disk.img"), new byte[4096]);
            Path metrics = Files.createFile(dir.resolve("metrics.json")); // as in Firecracker, it must exist first
            Path log = dir.resolve("vmm.log");
            Process vmm = startVmm(sock, serial, events);
            try {
                await("the API socket", Patience.seconds(60), () -> UdsHttpServer.listening(sock));
                assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(sock))).isEqualTo("rw-------");

                RawHttp.Reply earlyReply = call(sock, "GET", "/jkvm/vcpus", null);
                JsonNode early = json(earlyReply);
                assertThat(early.path("machine_state").asText()).as("GET /jkvm/vcpus: %s", earlyReply).isEqualTo("Not started");
                assertThat(early.path("vcpus").size()).isZero();

                RawHttp.Reply info = call(sock, "GET", "/", null);
                assertThat(info.status()).isEqualTo(200);
                assertThat(json(info).path("state").asText()).isEqualTo("Not started");
                assertThat(json(info).path("id").asText()).isEqualTo("vm-under-test");

                // Hostile and wrong requests before boot: 4xx naming the problem, the VMM keeps serving.
                assertFault(call(sock, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), "boot-source");
                assertFault(call(sock, "PUT", "/boot-source", "{\"kernel_image_path\": "), "malformed JSON");
                assertFault(call(sock, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 32, \"color\": 1}"),
                        "unknown field 'color'");
                assertFault(call(sock, "PUT", "/machine-config", "{\"vcpu_count\": \"1\", \"mem_size_mib\": 32}"),
                        "vcpu_count", "integer");
                assertFault(call(sock, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 8}"),
                        "mem_size_mib 8", "too small");
                assertFault(call(sock, "PUT", "/boot-source", "{\"kernel_image_path\": \"/nonexistent/vmlinux\"}"),
                        "kernel_image_path /nonexistent/vmlinux", "no such file");
                assertFault(call(sock, "PUT", "/drives/rootfs", "{\"drive_id\": \"other\", \"path_on_host\": \"" + disk
                        + "\", \"is_root_device\": true}"), "does not match");
                assertFault(call(sock, "PATCH", "/vm", "{\"state\": \"Paused\"}"), "not supported before starting");
                assertFault(call(sock, "DELETE", "/boot-source", null), "Invalid request method and/or path");
                RawHttp.Reply huge = call(sock, "PUT", "/boot-source",
                        "{\"boot_args\": \"" + "x".repeat(UdsHttpServer.MAX_BODY) + "\"}");
                assertThat(huge.status()).isEqualTo(413);
                assertThat(json(huge).path("fault_message").asText()).contains("larger than");

                // A client that stalls mid-request is disconnected by the idle timeout.
                try (SocketChannel slow = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                    slow.connect(UnixDomainSocketAddress.of(sock));
                    slow.write(ByteBuffer.wrap("PUT /boot-source HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{".getBytes()));
                    long t0 = System.nanoTime();
                    RawHttp.readAll(slow, Duration.ofSeconds(30));
                    assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(20));
                }

                // The configuration, as a Firecracker client sends it.
                assertThat(call(sock, "PUT", "/logger", "{\"log_path\": \"" + log + "\", \"level\": \"Info\"}").status()).isEqualTo(204);
                assertThat(call(sock, "PUT", "/metrics", "{\"metrics_path\": \"" + metrics + "\"}").status()).isEqualTo(204);
                assertThat(call(sock, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 32}").status()).isEqualTo(204);
                assertThat(call(sock, "PATCH", "/machine-config", "{\"smt\": false}").status()).isEqualTo(204);
                assertThat(call(sock, "PUT", "/boot-source", "{\"kernel_image_path\": \"" + kernel
                        + "\", \"boot_args\": \"console=ttyS0\"}").status()).isEqualTo(204);
                assertThat(call(sock, "PUT", "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": \"" + disk
                        + "\", \"is_root_device\": true, \"is_read_only\": false}").status()).isEqualTo(204);
                assertThat(call(sock, "PUT", "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", "
                        + "\"guest_mac\": \"06:00:ac:10:00:02\"}").status()).isEqualTo(204);
                RawHttp.Reply mc = call(sock, "GET", "/machine-config", null);
                assertThat(json(mc).path("vcpu_count").asInt()).isEqualTo(1);
                assertThat(json(mc).path("mem_size_mib").asInt()).isEqualTo(32);

                long t0 = System.nanoTime();
                assertThat(call(sock, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}").status()).isEqualTo(204);
                long startMs = (System.nanoTime() - t0) / 1_000_000;
                await("the guest's first words", Patience.seconds(30), () -> read(serial).contains(TestKernels.UP));
                System.out.println("InstanceStart took " + startMs + " ms");
                assertThat(json(call(sock, "GET", "/", null)).path("state").asText()).isEqualTo("Running");

                // jkvm extension: each vCPU's activity and KVM state; SIGUSR1 logs the same report.
                JsonNode report = json(call(sock, "GET", "/jkvm/vcpus", null));
                assertThat(report.path("machine_state").asText()).as(report.toString()).isEqualTo("running");
                assertThat(report.path("vcpus").size()).isEqualTo(1);
                JsonNode vcpu0 = report.path("vcpus").get(0);
                assertThat(vcpu0.path("mp_state").asText()).as(report.toString()).isIn("runnable", "halted");
                assertThat(vcpu0.path("registers").path("rip").asText()).startsWith("0x");
                assertThat(vcpu0.path("lapic").path("irr").isArray()).isTrue();
                assertThat(vcpu0.path("exits").path("IO").asLong()).isPositive();
                assertThat(report.path("irqchip").path("ioapic").path("redirection").size()).isEqualTo(24);
                assertThat(new ProcessBuilder("kill", "-USR1", String.valueOf(vmm.pid())).start().waitFor()).isZero();
                await("the SIGUSR1 report in the log", Duration.ofSeconds(60), () -> read(log).contains("\"event\":\"vcpu_report\""));
                assertThat(read(log)).contains("vcpu 0: ");
                assertFault(call(sock, "PUT", "/jkvm/vcpus", "{}"), "Invalid request method and/or path");

                // Wrong state after boot.
                assertFault(call(sock, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), "after starting");
                assertFault(call(sock, "PUT", "/drives/data", "{\"drive_id\": \"data\", \"path_on_host\": \"" + disk
                        + "\", \"is_root_device\": false}"), "after starting");
                assertFault(call(sock, "PUT", "/boot-source", "{\"kernel_image_path\": \"" + kernel + "\"}"), "after starting");

                JsonNode config = json(call(sock, "GET", "/vm/config", null));
                assertThat(config.path("boot-source").path("kernel_image_path").asText()).isEqualTo(kernel.toString());
                assertThat(config.path("drives").get(0).path("drive_id").asText()).isEqualTo("rootfs");
                assertThat(config.path("network-interfaces").get(0).path("host_dev_name").asText()).isEqualTo("tap0");
                assertThat(config.path("machine-config").path("mem_size_mib").asInt()).isEqualTo(32);

                assertThat(call(sock, "PATCH", "/vm", "{\"state\": \"Paused\"}").status()).isEqualTo(204);
                assertThat(json(call(sock, "GET", "/", null)).path("state").asText()).isEqualTo("Paused");
                assertThat(call(sock, "PATCH", "/vm", "{\"state\": \"Resumed\"}").status()).isEqualTo(204);
                assertThat(json(call(sock, "GET", "/", null)).path("state").asText()).isEqualTo("Running");

                // Confined once the guest started (seccomp on by default; Landlock auto where the kernel has it).
                assertThat(read(log)).contains("\"event\":\"confined\"").contains("\"seccomp\":\"on\"");
                if (io.jkvm.isolation.LandlockAbi.probe().available()) {
                    // On, or off saying why (the lab's 9p-shared files cannot carry Landlock rules).
                    assertThat(read(log)).containsAnyOf("\"landlock\":\"on (ABI ", "\"landlock\":\"unavailable: ");
                }
                if (read(log).contains("\"landlock\":\"on (ABI ")) {
                    // A swapped image must live where the drives' rules reach: another directory is a 400 naming the field.
                    Path elsewhere = Files.createTempDirectory("jkvm-swap");
                    Path other = Files.write(elsewhere.resolve("other.img"), new byte[4096]);
                    try {
                        assertFault(call(sock, "PATCH", "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": \""
                                + other + "\"}"), "path_on_host", "confined itself", dir.toString());
                    } finally {
                        Files.delete(other);
                        Files.delete(elsewhere);
                    }
                    Path sibling = Files.write(dir.resolve("sibling.img"), new byte[8192]);
                    assertThat(call(sock, "PATCH", "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": \""
                            + sibling + "\"}").status()).isEqualTo(204);
                }
                assertThat(call(sock, "PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}").status()).isEqualTo(204);
                // Firecracker's layout: counters since the previous line (this is the first).
                JsonNode m = Json.MAPPER.readTree(Files.readAllLines(metrics).getLast());
                assertThat(m.path("utc_timestamp_ms").asLong()).isPositive();
                assertThat(m.path("vcpu").path("exit_io_out").asLong()).isPositive();
                assertThat(m.path("uart").path("write_count").asLong()).isGreaterThanOrEqualTo(TestKernels.UP.length());
                assertThat(m.path("i8042").path("read_count").asLong()).isPositive();
                assertThat(m.path("put_api_requests").path("actions_count").asLong()).as("InstanceStart").isPositive();
                assertThat(m.path("latencies_us").path("pause_vm").isNumber()).as(m.toString()).isTrue();
                assertThat(read(log)).contains("\"event\":\"instance_started\"");

                assertThat(call(sock, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}").status()).isEqualTo(204);
                assertThat(vmm.waitFor(Patience.secondsOf(60), TimeUnit.SECONDS)).as(read(events)).isTrue();
                assertThat(read(serial)).contains(TestKernels.CTRL_ALT_DEL);
                assertThat(vmm.exitValue()).as(read(events)).isZero();
                assertThat(read(events)).contains("guest rebooted");
                assertThat(sock).doesNotExist();
            } finally {
                vmm.destroyForcibly();
            }
        });
    }

    @Test
    void bootsFromAFirecrackerConfigFileWithoutAnApi() {
        Patience.hangDetector(120, () -> {
            Path config = TestKernels.rebootsAtOnceConfig(dir, "vm.json", "[]");
            Path kernel = TestKernels.rebootsAtOnce(dir);
            Path serial = dir.resolve("serial.out");
            Path events = dir.resolve("vmm.err");
            Process p = new ProcessBuilder(JkvmCommand.of("run", "--config-file", config.toString(), "--no-api"))
                    .redirectOutput(serial.toFile()).redirectError(events.toFile()).start();
            assertThat(p.waitFor(Patience.secondsOf(60), TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as(read(events)).isZero();
            assertThat(read(serial)).contains(TestKernels.UP);

            Files.writeString(config, "{\"boot-source\": {\"kernel_image_path\": \"" + kernel + "\"}, \"pmem\": []}");
            Process bad = new ProcessBuilder(JkvmCommand.of("run", "--config-file", config.toString(), "--no-api"))
                    .redirectErrorStream(true).start();
            String out = new String(bad.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(bad.waitFor(Patience.secondsOf(60), TimeUnit.SECONDS)).isTrue();
            assertThat(bad.exitValue()).isEqualTo(2);
            assertThat(out).contains("unknown field 'pmem'").doesNotContain("Exception");
        });
    }
}
