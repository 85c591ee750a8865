package io.jkvm.daemon;

import io.jkvm.testing.Patience;
import com.fasterxml.jackson.databind.JsonNode;
import io.jkvm.api.Json;
import io.jkvm.api.UdsHttpServer;
import io.jkvm.arch.x86.boot.ElfBuilder;
import io.jkvm.testing.JkvmCommand;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.RawHttp;
import io.jkvm.testing.TestGuest;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Direct KVM: a guest that counts on COM1 runs under the daemon, is snapshotted with
 * {@code jkvm vm snapshot}, its VMM killed, and {@code jkvm vm restore} starts a new VMM from
 * the snapshot: the count continues from the next number (vCPU registers, serial, PCI host and
 * the rest came back), nothing reboots, and a tampered state file is refused naming the file.
 */
@Tag("kvm")
class DaemonSnapshotDirectTest {
    private static final long LOAD = 0x100_0000;
    private static final Pattern TICK = Pattern.compile("tick ([0-9a-f]{8})");

    @TempDir
    Path dir;
    private Path sock;
    private Process daemon;
    private final List<Long> pids = new ArrayList<>();

    @BeforeEach
    void setUp() {
        KvmAvailable.assume();
        sock = dir.resolve("daemon.sock");
    }

    @AfterEach
    void cleanUp() {
        if (daemon != null) {
            daemon.destroyForcibly();
        }
        for (long pid : pids) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
    }

    /** Counts in %ebx, printing "tick XXXXXXXX" (hex) on COM1 with a busy delay between ticks; written into {@code dir}. */
    static Path countingKernel(Path dir) throws IOException {
        byte[] code = TestGuest.assemble("""
                .code32
                    xor %ebx, %ebx
                next:
                    inc %ebx
                    mov $0x3f8, %dx
                    mov $tick, %esi
                str:
                    movb (%esi), %al
                    test %al, %al
                    jz hex0
                    out %al, %dx
                    inc %esi
                    jmp str
                hex0:
                    mov $8, %ecx
                    mov %ebx, %edi
                hex:
                    rol $4, %edi
                    mov %edi, %eax
                    and $0xf, %eax
                    movb digits(%eax), %al
                    out %al, %dx
                    dec %ecx
                    jnz hex
                    mov $0x0a, %al
                    out %al, %dx
                    mov $100000, %ecx
                delay:
                    dec %ecx
                    jnz delay
                    jmp next
                tick: .asciz "tick "
                digits: .ascii "0123456789abcdef"
                """, LOAD);
        ElfBuilder elf = new ElfBuilder().load(LOAD, code, 0x1000);
        elf.pvhEntry = LOAD;
        return Files.write(dir.resolve("counting-vmlinux"), elf.build());
    }

    private JsonNode api(String method, String path, String body, int expected) throws IOException {
        RawHttp.Reply r = RawHttp.request(sock, method, path, body);
        assertThat(r.status()).as(method + " " + path + ": " + r.raw()).isEqualTo(expected);
        return r.body().isEmpty() ? null : Json.MAPPER.readTree(r.body());
    }

    private record Cli(int exit, String out) {}

    private Cli cli(String... args) throws Exception {
        // One line per step: inside the lab (Patience x100) a step takes minutes, and the lab's
        // no-output watchdog must see that the test is moving.
        System.out.println("daemon-snapshot: jkvm " + String.join(" ", args));
        List<String> full = new ArrayList<>(List.of(args));
        full.addAll(List.of("--socket", sock.toString()));
        Process p = new ProcessBuilder(JkvmCommand.of(full.toArray(String[]::new))).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(Patience.secondsOf(180), TimeUnit.SECONDS)).isTrue();
        return new Cli(p.exitValue(), out);
    }

    static void await(String what, Duration timeout, BooleanSupplier condition) throws InterruptedException {
        System.out.println("daemon-snapshot: waiting for " + what);
        long start = System.nanoTime();
        long deadline = start + timeout.toNanos();
        long nextNote = start + java.util.concurrent.TimeUnit.SECONDS.toNanos(60);
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime() < deadline).as("timed out waiting for " + what).isTrue();
            if (System.nanoTime() > nextNote) {
                System.out.println("daemon-snapshot: still waiting for " + what + " ("
                        + java.util.concurrent.TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - start) + " s)");
                nextNote += java.util.concurrent.TimeUnit.SECONDS.toNanos(60);
            }
            Thread.sleep(25); // polling the condition
        }
    }

    static List<Integer> ticks(Path log) {
        List<Integer> out = new ArrayList<>();
        try {
            Matcher m = TICK.matcher(Files.readString(log, StandardCharsets.ISO_8859_1));
            while (m.find()) {
                out.add(Integer.parseInt(m.group(1), 16));
            }
        } catch (IOException e) {
            // not there yet
        }
        return out;
    }

    @Test
    void aCountingGuestContinuesFromItsSnapshotInANewVmmAndATamperedOneIsRefused() throws Exception {
        Path kernel = countingKernel(dir);
        Path state = dir.resolve("state");
        daemon = DaemonProcess.start(state, sock, dir.resolve("daemon.log"));
        await("the daemon socket", Patience.seconds(60), () -> UdsHttpServer.listening(sock));
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(state.resolve("snapshot.key"))))
                .isEqualTo("rw-------");

        // A drive the guest never drives: its virtio-pci function is saved and rebuilt under its drive_id.
        Path disk = Files.write(dir.resolve("scratch.img"), new byte[1 << 20]);
        api("POST", "/vms", """
                {"name": "counter", "config": {
                  "boot-source": {"kernel_image_path": "%s", "boot_args": "console=ttyS0"},
                  "drives": [{"drive_id": "scratch", "path_on_host": "%s", "is_root_device": false, "is_read_only": false}],
                  "machine-config": {"vcpu_count": 1, "mem_size_mib": 32}}}
                """.formatted(kernel, disk), 201);
        Cli start = cli("vm", "start", "counter");
        assertThat(start.exit()).as(start.out()).isZero();
        JsonNode status = api("GET", "/vms/counter", null, 200).path("status");
        pids.add(status.path("pid").asLong());
        Path serial = Path.of(status.path("serial_log").asText());
        await("three ticks", Patience.seconds(60), () -> ticks(serial).size() >= 3);

        Path snap = dir.resolve("snap");
        Cli s = cli("vm", "snapshot", "counter", "--dir", snap.toString(), "--json");
        assertThat(s.exit()).as(s.out()).isZero();
        assertThat(Json.MAPPER.readTree(s.out()).path("state").asText()).isEqualTo("paused");
        assertThat(Files.size(snap.resolve("vm.mem"))).isEqualTo(32L << 20);
        assertThat(new String(Files.readAllBytes(snap.resolve("vm.state")), java.nio.charset.StandardCharsets.ISO_8859_1))
                .as("device states keyed by id").contains("device/drive/scratch").contains("device/serial0");
        List<Integer> before = ticks(serial);
        int last = before.getLast();
        assertThat(cli("vm", "kill", "counter").exit()).isZero();
        long logLength = Files.size(serial);

        Cli r = cli("vm", "restore", "counter", "--dir", snap.toString(), "--json");
        assertThat(r.exit()).as(r.out() + "\n" + Files.readString(Path.of(status.path("vmm_log").asText()))).isZero();
        assertThat(Json.MAPPER.readTree(r.out()).path("state").asText()).isEqualTo("running");
        pids.add(api("GET", "/vms/counter", null, 200).path("status").path("pid").asLong());
        await("ticks after the restore", Patience.seconds(60), () -> ticks(serial).getLast() >= last + 3);
        List<Integer> after = ticksAfter(serial, logLength);
        // If the pause cut a line, its digits continue at the start of the new output (no "tick " before them).
        assertThat(after.getFirst()).as("the count continues from %d: %s", last, after).isBetween(last + 1, last + 2);
        for (int i = 1; i < after.size(); i++) {
            assertThat(after.get(i)).as("consecutive: %s", after).isEqualTo(after.get(i - 1) + 1);
        }
        assertThat(ticks(serial).stream().filter(t -> t == 1).count()).as("no reboot").isEqualTo(1);

        // A snapshot whose state file was changed is refused, naming the file.
        assertThat(cli("vm", "kill", "counter").exit()).isZero();
        try (RandomAccessFile f = new RandomAccessFile(snap.resolve("vm.state").toFile(), "rw")) {
            f.seek(100);
            int b = f.read();
            f.seek(100);
            f.write(b ^ 0x20);
        }
        Cli bad = cli("vm", "restore", "counter", "--dir", snap.toString());
        assertThat(bad.exit()).as(bad.out()).isEqualTo(2); // the VMM refused the request (400)
        assertThat(bad.out()).contains("vm.state: modified or corrupted");
        assertThat(api("GET", "/vms/counter", null, 200).path("status").path("state").asText()).isEqualTo("stopped");
    }

    private static List<Integer> ticksAfter(Path log, long offset) throws IOException {
        byte[] all = Files.readAllBytes(log);
        String tail = new String(all, (int) offset, all.length - (int) offset, StandardCharsets.ISO_8859_1);
        List<Integer> out = new ArrayList<>();
        Matcher m = TICK.matcher(tail);
        while (m.find()) {
            out.add(Integer.parseInt(m.group(1), 16));
        }
        return out;
    }
}
