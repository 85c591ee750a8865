package io.jkvm.daemon;

import io.jkvm.testing.Patience;
import com.fasterxml.jackson.databind.JsonNode;
import io.jkvm.api.Json;
import io.jkvm.api.UdsHttpServer;
import io.jkvm.testing.JkvmCommand;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.RawHttp;
import io.jkvm.testing.TestKernels;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Direct KVM: the daemon as its own process running ten small test guests (five inside the lab,
 * where VMM JVMs starting at once on two emulated CPUs take minutes before a guest runs; five is
 * the fewest the steps below use: VMs 1-3 are defined differently, VM 4 is restarted and deleted),
 * each in its own VMM process, through its HTTP API and the {@code jkvm vm} CLI; then SIGKILLed
 * and restarted.
 */
@Tag("kvm")
class DaemonDirectTest {
    private static final int VMS = Patience.factor() > 1 ? 5 : 10;

    @TempDir
    Path dir;
    private Path state;
    private Path sock;
    private Process daemon;
    private final List<Long> vmmPids = new ArrayList<>();

    @BeforeEach
    void setUp() {
        KvmAvailable.assume();
        state = dir.resolve("state");
        sock = dir.resolve("daemon.sock");
    }

    @AfterEach
    void cleanUp() {
        if (daemon != null) {
            daemon.destroyForcibly();
        }
        for (long pid : vmmPids) {
            if (VmmProcess.alive(pid)) {
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }
        }
        if (state == null) {
            return; // skipped before set-up (no KVM here): nothing was started
        }
        // VMMs this test's daemon started whose pids the test never saw (it failed or timed out
        // mid-start): found by their API sockets under this test's state directory, so a failed
        // test does not leave VMMs running to starve the tests after it.
        String mine = state.toAbsolutePath().toString();
        ProcessHandle.allProcesses()
                .filter(p -> VmmProcess.cmdline(p.pid()).stream().anyMatch(a -> a.startsWith(mine)))
                .forEach(ProcessHandle::destroyForcibly);
    }

    private void startDaemon() throws Exception {
        daemon = DaemonProcess.start(state, sock, dir.resolve("daemon.log"));
        await("the daemon socket", Patience.seconds(60), () -> UdsHttpServer.listening(sock));
    }

    private JsonNode api(String method, String path, String body, int expectedStatus) throws IOException {
        RawHttp.Reply r = RawHttp.request(sock, method, path, body);
        assertThat(r.status()).as(method + " " + path + ": " + r.raw()).isEqualTo(expectedStatus);
        return r.body().isEmpty() ? null : Json.MAPPER.readTree(r.body());
    }

    private Map<String, JsonNode> list() throws IOException {
        Map<String, JsonNode> byName = new HashMap<>();
        api("GET", "/vms", null, 200).forEach(v -> byName.put(v.path("name").asText(), v));
        return byName;
    }

    private record Cli(int exit, String out) {}

    private Cli cli(String... args) throws Exception {
        List<String> full = new ArrayList<>(List.of(args));
        full.addAll(List.of("--socket", sock.toString()));
        Process p = new ProcessBuilder(JkvmCommand.of(full.toArray(String[]::new))).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(Patience.secondsOf(120), TimeUnit.SECONDS)).isTrue();
        return new Cli(p.exitValue(), out);
    }

    private static void await(String what, Duration timeout, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime() < deadline).as("timed out waiting for " + what).isTrue();
            Thread.sleep(25);
        }
    }

    private <T> List<T> inParallel(List<Callable<T>> tasks) throws Exception {
        // One line per finished request: progress the lab's no-output watchdog sees while ten VMMs
        // start in an emulated machine (minutes there, milliseconds here).
        java.util.concurrent.atomic.AtomicInteger done = new java.util.concurrent.atomic.AtomicInteger();
        long t0 = System.nanoTime();
        List<Callable<T>> reporting = tasks.stream().<Callable<T>>map(t -> () -> {
            T r = t.call();
            System.out.printf("DaemonDirectTest: %d of %d requests answered (%d ms)%n", done.incrementAndGet(), tasks.size(),
                    (System.nanoTime() - t0) / 1_000_000);
            return r;
        }).toList();
        try (ExecutorService pool = Executors.newFixedThreadPool(tasks.size())) {
            List<Future<T>> fs = pool.invokeAll(reporting);
            List<T> out = new ArrayList<>();
            for (Future<T> f : fs) {
                out.add(f.get());
            }
            return out;
        }
    }

    private static String name(int i) {
        return "vm-%02d".formatted(i);
    }

    private String definition(String name, Path kernel) {
        return """
                {"name": "%s", "config": {
                  "boot-source": {"kernel_image_path": "%s", "boot_args": "console=ttyS0"},
                  "machine-config": {"vcpu_count": 1, "mem_size_mib": 32}}}
                """.formatted(name, kernel);
    }

    @Test
    void manyVmsStartPauseResumeSurviveADaemonKillAndLeaveNothingBehindWhenDeleted() {
        Patience.hangDetector(600, () -> {
            Path kernel = TestKernels.halting(dir);
            startDaemon();

            // Hostile requests to the daemon: a 4xx naming the problem, and the daemon keeps serving.
            assertThat(api("POST", "/vms", "{\"name\": \"Bad Name\", \"config\": {}}", 400).path("fault_message").asText())
                    .contains("VM name");
            assertThat(api("POST", "/vms", "{\"name\": \"x\", \"config\": {\"boot-source\": {\"kernel_image_path\": \"/nope\"}}}", 400)
                    .path("fault_message").asText()).contains("kernel_image_path /nope: no such file");
            assertThat(api("POST", "/vms", "{\"name\": ", 400).path("fault_message").asText()).contains("malformed JSON");
            assertThat(api("POST", "/vms/none/start", null, 404).path("fault_message").asText()).contains("no VM named 'none'");

            assertThat(api("POST", "/vms", definition("tuned", kernel).strip().replaceFirst("}$",
                    ", \"tuning\": {\"vcpu_pin\": {\"3\": \"0\"}}}"), 400).path("fault_message").asText())
                    .contains("tuning.vcpu_pin.3: the VM has 1 vCPUs");

            assertThat(api("POST", "/vms", definition("rt", kernel).strip().replaceFirst("}$",
                    ", \"tuning\": {\"vcpu_sched\": \"fifo:10\"}}"), 400).path("fault_message").asText())
                    .contains("tuning.vcpu_sched fifo:10").contains("--allow-realtime");
            assertThat(api("POST", "/vms", definition("cg", kernel).strip().replaceFirst("}$",
                    ", \"tuning\": {\"cgroup\": [\"cgroup.procs=1\"]}}"), 400).path("fault_message").asText())
                    .contains("tuning.cgroup cgroup.procs");
            assertThat(api("POST", "/vms", definition("tr", kernel).strip().replaceFirst("}$",
                    ", \"virtio_transport\": \"isa\"}"), 400).path("fault_message").asText())
                    .contains("virtio_transport isa: must be pci or mmio");

            // VM 1 is pinned (its definition's tuning): its VMM's vCPU thread runs only where it says.
            // VM 2 has a cgroup of its own (where this host has a cgroup-v1 pids hierarchy and we are root).
            // VM 3's definition puts its virtio devices on virtio-mmio: its VMM is started so.
            int firstCpu = io.jkvm.kvm.Scheduling.affinity(0).nextSetBit(0);
            boolean cgroups = io.jkvm.kvm.Native.geteuid() == 0 && Files.isRegularFile(Path.of("/sys/fs/cgroup/pids/cgroup.procs"));
            System.out.println("DaemonDirectTest: " + (cgroups ? "checks a VM's own cgroup"
                    : "no cgroup check (needs root and a cgroup-v1 pids hierarchy at /sys/fs/cgroup/pids)"));
            List<Callable<JsonNode>> creates = new ArrayList<>();
            for (int i = 0; i < VMS; i++) {
                String n = name(i);
                String def = switch (i) {
                    case 1 -> definition(n, kernel).strip().replaceFirst("}$",
                            ", \"tuning\": {\"vcpu_pin\": {\"all\": \"" + firstCpu + "\"}}}");
                    case 2 -> !cgroups ? definition(n, kernel) : definition(n, kernel).strip().replaceFirst("}$",
                            ", \"tuning\": {\"cgroup\": [\"pids.max=300\"]}}");
                    case 3 -> definition(n, kernel).strip().replaceFirst("}$", ", \"virtio_transport\": \"mmio\"}");
                    default -> definition(n, kernel);
                };
                creates.add(() -> api("POST", "/vms", def, 201));
            }
            inParallel(creates);
            api("POST", "/vms", definition(name(0), kernel), 409);

            long t0 = System.nanoTime();
            List<Callable<JsonNode>> starts = new ArrayList<>();
            for (int i = 0; i < VMS; i++) {
                String n = name(i);
                starts.add(() -> api("POST", "/vms/" + n + "/start", null, 200));
            }
            List<JsonNode> started = inParallel(starts);
            long startMs = (System.nanoTime() - t0) / 1_000_000;
            System.out.println("started " + VMS + " VMs concurrently in " + startMs + " ms");
            Map<String, Long> pids = new HashMap<>();
            for (JsonNode s : started) {
                assertThat(s.path("state").asText()).isEqualTo("running");
                pids.put(s.path("name").asText(), s.path("pid").asLong());
                vmmPids.add(s.path("pid").asLong());
            }
            for (int i = 0; i < VMS; i++) {
                Path serial = state.resolve("vms").resolve(name(i)).resolve("serial.log");
                await(name(i) + "'s serial output", Patience.seconds(60), () -> read(serial).contains(TestKernels.UP));
            }
            assertThat(io.jkvm.kvm.Scheduling.affinity(io.jkvm.testing.ProcThreads.named(pids.get(name(1)), "fc_vcpu 0")).stream().boxed().toList())
                    .as("taskset -p of the pinned VM's vCPU thread").containsExactly(firstCpu);
            Path vmCgroup = null;
            if (cgroups) {
                String line = Files.readAllLines(Path.of("/proc", String.valueOf(pids.get(name(2))), "cgroup")).stream()
                        .filter(l -> l.split(":", 3)[1].equals("pids")).findFirst().orElseThrow();
                assertThat(line).as("the VMM's pids cgroup").endsWith("/jkvm-" + name(2));
                vmCgroup = Path.of("/sys/fs/cgroup/pids", line.split(":", 3)[2]);
                assertThat(Files.readString(vmCgroup.resolve("pids.max")).strip()).isEqualTo("300");
                assertThat(Files.readString(vmCgroup.resolve("pids.current")).strip()).as("the VMM's threads, counted there")
                        .isNotEqualTo("0");
            }
            assertThat(Files.readString(Path.of("/proc", String.valueOf(pids.get(name(3))), "cmdline")))
                    .as("VM 3's VMM command line").contains("--virtio-transport\0mmio");
            api("POST", "/vms/" + name(0) + "/start", null, 409);

            // The CLI: tables, JSON and exit statuses.
            Cli table = cli("vm", "list");
            assertThat(table.exit()).as(table.out()).isZero();
            assertThat(table.out()).contains("NAME", "STATE", name(VMS - 1), "running");
            Cli json = cli("vm", "list", "--json");
            assertThat(Json.MAPPER.readTree(json.out()).size()).isEqualTo(VMS);
            assertThat(cli("vm", "start", "no-such-vm").exit()).isEqualTo(3);
            assertThat(cli("vm", "start", name(0)).exit()).isEqualTo(4);
            Cli paused = cli("vm", "pause", name(0), "--json");
            assertThat(paused.exit()).as(paused.out()).isZero();
            assertThat(Json.MAPPER.readTree(paused.out()).path("state").asText()).isEqualTo("paused");
            assertThat(cli("vm", "resume", name(0)).exit()).isZero();
            Cli logs = cli("vm", "logs", name(3));
            assertThat(logs.out()).contains(TestKernels.UP);

            List<Callable<JsonNode>> pauses = new ArrayList<>();
            for (int i = 0; i < VMS; i++) {
                String n = name(i);
                pauses.add(() -> api("POST", "/vms/" + n + "/pause", null, 200));
            }
            inParallel(pauses);
            assertThat(list().values()).allSatisfy(v -> assertThat(v.path("state").asText()).isEqualTo("paused"));
            for (int i = 0; i < VMS; i++) {
                api("POST", "/vms/" + name(i) + "/resume", null, 200);
            }
            assertThat(list().values()).allSatisfy(v -> assertThat(v.path("state").asText()).isEqualTo("running"));

            String metrics = RawHttp.request(sock, "GET", "/metrics", null).body();
            assertThat(metrics).contains("jkvm_vms{state=\"running\"} " + VMS)
                    .contains("jkvm_vm_exits_total{vm=\"" + name(0) + "\",reason=\"IO\"}")
                    .contains("jkvm_vm_device_bytes_total{vm=\"" + name(VMS - 1) + "\",device=\"serial\",op=\"write\"}")
                    .contains("jkvm_vm_vcpus{vm=\"" + name(VMS / 2) + "\"} 1");

            // SIGKILL the daemon: the VMs keep running, and a new daemon finds them.
            daemon.destroyForcibly();
            assertThat(daemon.waitFor(Patience.secondsOf(30), TimeUnit.SECONDS)).isTrue();
            assertThat(pids.values()).allSatisfy(pid -> assertThat(VmmProcess.alive(pid)).isTrue());
            t0 = System.nanoTime();
            startDaemon();
            System.out.println("daemon restart to serving: " + (System.nanoTime() - t0) / 1_000_000 + " ms");
            Map<String, JsonNode> again = list();
            assertThat(again).hasSize(VMS);
            again.forEach((n, v) -> {
                assertThat(v.path("state").asText()).as(n).isEqualTo("running");
                assertThat(v.path("pid").asLong()).as(n).isEqualTo(pids.get(n));
            });
            api("POST", "/vms/" + name(1) + "/pause", null, 200);
            api("POST", "/vms/" + name(1) + "/resume", null, 200);

            // Stop: these guests ignore Ctrl+Alt+Del, so the deadline passes and they are killed.
            List<Callable<JsonNode>> stops = new ArrayList<>();
            for (int i = 0; i < VMS; i++) {
                String n = name(i);
                stops.add(() -> api("POST", "/vms/" + n + "/stop", "{\"timeout_ms\": 300}", 200));
            }
            for (JsonNode s : inParallel(stops)) {
                assertThat(s.path("state").asText()).isEqualTo("stopped");
                assertThat(s.path("last_exit").asText()).contains("killed");
            }
            assertThat(pids.values()).allSatisfy(pid -> assertThat(VmmProcess.alive(pid)).isFalse());
            if (vmCgroup != null) {
                assertThat(vmCgroup).as("the stopped VM's cgroup, removed by the daemon").doesNotExist();
            }
            api("POST", "/vms/" + name(2) + "/pause", null, 409);

            // A guest that does shut down on Ctrl+Alt+Del stops gracefully.
            Path cad = TestKernels.rebootsOnCtrlAltDel(dir);
            api("POST", "/vms", definition("graceful", cad), 201);
            JsonNode g = api("POST", "/vms/graceful/start", null, 200);
            vmmPids.add(g.path("pid").asLong());
            await("graceful's serial output", Patience.seconds(60),
                    () -> read(state.resolve("vms/graceful/serial.log")).contains(TestKernels.UP));
            JsonNode stopped = api("POST", "/vms/graceful/stop", "{\"timeout_ms\": 30000}", 200);
            assertThat(stopped.path("last_exit").asText()).isEqualTo("guest shut down after Ctrl+Alt+Del");

            // Delete: one running VM needs force; afterwards no process, socket or file is left.
            api("POST", "/vms/" + name(4) + "/start", null, 200).path("pid");
            long restarted = list().get(name(4)).path("pid").asLong();
            vmmPids.add(restarted);
            api("DELETE", "/vms/" + name(4), null, 409);
            api("DELETE", "/vms/" + name(4) + "?force=true", null, 204);
            assertThat(cli("vm", "delete", "graceful").exit()).isZero();
            for (int i = 0; i < VMS; i++) {
                if (i != 4) {
                    api("DELETE", "/vms/" + name(i), null, 204);
                }
            }
            assertThat(list()).isEmpty();
            assertThat(vmmPids).allSatisfy(pid -> assertThat(VmmProcess.alive(pid)).as("pid " + pid).isFalse());
            try (Stream<Path> left = Files.walk(state)) {
                // The daemon's snapshot key is the daemon's own state, kept across VMs.
                assertThat(left.filter(p -> !p.equals(state) && !p.equals(state.resolve("vms"))
                        && !p.equals(state.resolve("snapshot.key"))).toList()).isEmpty();
            }
            assertThat(daemon.isAlive()).isTrue();
        });
    }

    private static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return "";
        }
    }
}
