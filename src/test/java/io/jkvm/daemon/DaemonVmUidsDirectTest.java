package io.jkvm.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import io.jkvm.api.Json;
import io.jkvm.api.UdsHttpServer;
import io.jkvm.kvm.Native;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.Patience;
import io.jkvm.testing.RawHttp;
import io.jkvm.testing.TestKernels;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Direct KVM: a daemon with {@code --vm-uids} runs each VM's VMM as its own user, makes each
 * VM's writable disk that user's alone, and refuses a definition that names another VM's disk.
 */
@Tag("kvm")
class DaemonVmUidsDirectTest {
    private static final int FIRST = 4300;

    @TempDir
    Path dir;
    /**
     * The VMs' files, under /dev/shm (a tmpfs everywhere; in the lab /tmp is 9p) so that their
     * users can reach them: the test's own directory is root's alone.
     */
    private Path files;
    private Path sock;
    private Process daemon;
    private final List<Long> vmms = new ArrayList<>();

    @BeforeEach
    void setUp() throws IOException {
        KvmAvailable.assume();
        Assumptions.assumeTrue(Native.geteuid() == 0, "--vm-uids needs a daemon running as root; this test runs as another user");
        files = Files.createTempDirectory(Path.of("/dev/shm"), "jkvm-vm-uids-",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
        sock = dir.resolve("daemon.sock");
    }

    @AfterEach
    void cleanUp() throws IOException {
        if (daemon != null) {
            daemon.destroyForcibly();
        }
        vmms.forEach(pid -> ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly));
        if (files != null) {
            try (var list = Files.list(files)) {
                for (Path f : list.toList()) {
                    Files.delete(f);
                }
            }
            Files.delete(files);
        }
    }

    private JsonNode api(String method, String path, String body, int status) throws IOException {
        RawHttp.Reply r = RawHttp.request(sock, method, path, body);
        assertThat(r.status()).as(method + " " + path + ": " + r.raw()).isEqualTo(status);
        return r.body().isEmpty() ? null : Json.MAPPER.readTree(r.body());
    }

    private static String definition(String name, Path kernel, Path disk, String tuning) {
        return """
                {"name": "%s", "config": {
                  "boot-source": {"kernel_image_path": "%s", "boot_args": "console=ttyS0"},
                  "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
                  "drives": [{"drive_id": "root", "path_on_host": "%s", "is_root_device": true, "is_read_only": false}]}%s}
                """.formatted(name, kernel, disk, tuning == null ? "" : ", \"tuning\": " + tuning);
    }

    private Path disk(String name) throws IOException {
        Path p = Files.write(files.resolve(name), new byte[1 << 20]);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-r--r--"));
        return p;
    }

    private static String ids(long pid) throws IOException {
        return Files.readAllLines(Path.of("/proc", String.valueOf(pid), "status")).stream()
                .filter(l -> l.startsWith("Uid:") || l.startsWith("Gid:")).toList().toString();
    }

    @Test
    void eachVmRunsAsItsOwnUserAndOwnsItsDiskAlone() throws Exception {
        Path kernel = TestKernels.halting(files);
        Files.setPosixFilePermissions(kernel, PosixFilePermissions.fromString("rw-r--r--"));
        Path diskA = disk("a.img");
        Path diskB = disk("b.img");
        daemon = DaemonProcess.start(dir.resolve("state"), sock, dir.resolve("daemon.log"), "--vm-uids", FIRST + "-" + (FIRST + 9));
        long deadline = System.nanoTime() + Patience.seconds(60).toNanos();
        while (!UdsHttpServer.listening(sock)) {
            assertThat(System.nanoTime() < deadline).as("the daemon's socket within 60 s: " + read(dir.resolve("daemon.log"))).isTrue();
            assertThat(daemon.isAlive()).as(read(dir.resolve("daemon.log"))).isTrue();
            Thread.sleep(25);
        }

        assertThat(api("POST", "/vms", definition("locked", kernel, disk("c.img"), "{\"mlock\": true}"), 400)
                .path("fault_message").asText()).contains("tuning.mlock").contains("--vm-uids");
        api("POST", "/vms", definition("a", kernel, diskA, null), 201);
        api("POST", "/vms", definition("b", kernel, diskB, null), 201);
        long pidA = api("POST", "/vms/a/start", null, 200).path("pid").asLong();
        vmms.add(pidA);
        long pidB = api("POST", "/vms/b/start", null, 200).path("pid").asLong();
        vmms.add(pidB);
        for (String vm : List.of("a", "b")) {
            Path serial = dir.resolve("state/vms").resolve(vm).resolve("serial.log");
            long until = System.nanoTime() + Patience.seconds(60).toNanos();
            while (!read(serial).contains(TestKernels.UP)) {
                assertThat(System.nanoTime() < until).as(vm + "'s guest output").isTrue();
                Thread.sleep(25);
            }
        }
        // The VMM leaves root once its VM is built, before the guest runs: by now it is the VM's user.
        assertThat(ids(pidA)).isEqualTo(List.of("Uid:\t4300\t4300\t4300\t4300", "Gid:\t4300\t4300\t4300\t4300").toString());
        assertThat(ids(pidB)).isEqualTo(List.of("Uid:\t4301\t4301\t4301\t4301", "Gid:\t4301\t4301\t4301\t4301").toString());
        // jkvm vm show's report of it (GET /vms/a's status.confinement): the kernel's view of the VMM.
        JsonNode confinement = api("GET", "/vms/a", null, 200).path("status").path("confinement");
        assertThat(confinement.path("uid").asInt()).as(confinement.toString()).isEqualTo(FIRST);
        assertThat(confinement.path("gid").asInt()).isEqualTo(FIRST);
        assertThat(confinement.path("seccomp").asText()).isEqualTo("filter");
        assertThat(confinement.path("no_new_privs").asBoolean()).isTrue();
        assertThat(confinement.path("usage").isObject()).as("limits and use from its cgroups (none mounted in the lab)").isTrue();
        if (!confinement.path("seccomp_filters").isNull()) {
            // Each vCPU thread adds its own filter (ioctl by type, no sockets) to the process's.
            assertThat(confinement.path("vcpu_seccomp_filters").asInt()).as(confinement.toString())
                    .isEqualTo(confinement.path("seccomp_filters").asInt() + 1);
        }
        assertThat(confinement.path("capabilities").asText()).isEqualTo("0000000000000000");
        assertThat(Files.getAttribute(diskA, "unix:uid")).isEqualTo(FIRST);
        assertThat(Files.getAttribute(diskB, "unix:uid")).isEqualTo(FIRST + 1);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(diskA))).isEqualTo("rw-------");

        // A definition naming VM a's disk is refused when it starts: the disk is a's alone.
        api("POST", "/vms", definition("thief", kernel, diskA, null), 201);
        assertThat(api("POST", "/vms/thief/start", null, 409).path("fault_message").asText())
                .contains("drives.root.path_on_host").contains("belongs to another VM of this daemon (uid 4300)");

        // A system file named as a writable disk is never handed over. (In the lab, / is the host's,
        // read-only over 9p: there the definition is already refused as not writable.)
        if (Files.isWritable(Path.of("/etc/passwd"))) {
            api("POST", "/vms", definition("etc", kernel, Path.of("/etc/passwd"), null), 201);
            assertThat(api("POST", "/vms/etc/start", null, 400).path("fault_message").asText())
                    .contains("drives.root.path_on_host /etc/passwd: a system file");
        } else {
            assertThat(api("POST", "/vms", definition("etc", kernel, Path.of("/etc/passwd"), null), 400)
                    .path("fault_message").asText()).contains("/etc/passwd").contains("not writable");
        }
        assertThat(Files.getAttribute(Path.of("/etc/passwd"), "unix:uid")).isEqualTo(0);

        // Nor is a file of the daemon's own state (its snapshot key here), even through a "..".
        Path key = dir.resolve("state/snapshot.key");
        api("POST", "/vms", definition("key", kernel, Path.of(dir.resolve("state/vms") + "/../snapshot.key"), null), 201);
        assertThat(api("POST", "/vms/key/start", null, 400).path("fault_message").asText())
                .contains("a file of the daemon's state directory is never a VM's disk");
        assertThat(Files.getAttribute(key, "unix:uid")).isEqualTo(0);

        api("POST", "/vms/a/kill", null, 200);
        api("POST", "/vms/b/kill", null, 200);

        // Deleting VM a gives its disk back to root: the uid 4300 goes to the next VM defined.
        api("DELETE", "/vms/a", null, 204);
        assertThat(Files.getAttribute(diskA, "unix:uid")).isEqualTo(0);
        api("POST", "/vms", definition("c", kernel, disk("c2.img"), null), 201);
        assertThat(Json.MAPPER.readTree(dir.resolve("state/vms/c/vm.json").toFile()).path("uid").asInt()).isEqualTo(FIRST);
    }

    private static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return "";
        }
    }
}
