package io.jkvm.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.jkvm.api.BootSource;
import io.jkvm.api.ConfigFile;
import io.jkvm.api.Drive;
import io.jkvm.api.FullVmConfiguration;
import io.jkvm.api.Json;
import io.jkvm.api.MachineConfiguration;
import io.jkvm.api.NetworkInterface;
import io.jkvm.config.Size;
import io.jkvm.config.VmConfig;
import io.jkvm.daemon.DaemonPaths;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code jkvm vm ...}: manage VMs through the daemon. */
@Command(name = "vm", description = {"Manage VMs through the jkvm daemon (`jkvm daemon`).",
        "Exit status: 0 done, 1 failed (e.g. the VMM would not start), 2 bad arguments or definition,",
        "3 no such VM, 4 wrong state (e.g. start a running VM), 5 the daemon is not reachable."},
        subcommands = {VmCommand.Create.class, VmCommand.Start.class, VmCommand.Stop.class, VmCommand.Kill.class,
                VmCommand.Pause.class, VmCommand.Resume.class, VmCommand.Delete.class, VmCommand.ListVms.class,
                VmCommand.Show.class, VmCommand.Console.class, VmCommand.Logs.class, VmCommand.Snapshot.class,
                VmCommand.Restore.class, VmCommand.Migrate.class, VmCommand.ConsoleUrl.class})
public final class VmCommand implements Runnable {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** Options every vm subcommand takes. */
    static final class Common {
        @Option(names = "--socket", paramLabel = "PATH", description = "The daemon's socket (default: $JKVM_DAEMON_SOCKET or the state dir's daemon.sock).")
        Path socket;

        @Option(names = "--json", description = "Print JSON (for scripts) instead of a table.")
        boolean json;

        @Option(names = "--wait", paramLabel = "SECONDS",
                description = "How long to wait for the daemon's answer (default: 900 for start, restore, snapshot;"
                        + " stop's --timeout plus 60; 60 for the rest).")
        Double waitSeconds;

        DaemonClient client() {
            return new DaemonClient(socket != null ? socket : DaemonPaths.defaultSocket());
        }

        /** --wait if given, else {@code dflt}. */
        Duration wait(Duration dflt) {
            if (waitSeconds == null) {
                return dflt;
            }
            if (!(waitSeconds > 0) || waitSeconds > 86_400) {
                throw new UserError("--wait " + waitSeconds + ": must be more than 0 and at most 86400 seconds");
            }
            return Duration.ofMillis((long) (waitSeconds * 1000));
        }

        void print(JsonNode status) {
            if (json) {
                System.out.println(status.toPrettyString());
            } else {
                printTable(List.of(status));
            }
        }
    }

    static void printTable(List<JsonNode> vms) {
        String fmt = "%-20s %-9s %-8s %-6s %-8s %s%n";
        System.out.printf(fmt, "NAME", "STATE", "PID", "VCPUS", "MEMORY", "STARTED");
        for (JsonNode v : vms) {
            System.out.printf(fmt, v.path("name").asText(), v.path("state").asText(),
                    v.hasNonNull("pid") ? v.path("pid").asText() : "-", v.path("vcpu_count").asText(),
                    v.path("mem_size_mib").asText() + "M",
                    v.hasNonNull("started_at") ? v.path("started_at").asText() : "-");
        }
    }

    @Command(name = "create", description = "Define a VM (from flags or a Firecracker --config-file); does not start it.")
    static final class Create implements Callable<Integer> {
        @Mixin Common common;
        @Parameters(paramLabel = "NAME") String name;
        @Option(names = "--config-file", paramLabel = "FILE", description = "Firecracker JSON configuration (boot-source, machine-config, drives, network-interfaces).")
        Path configFile;
        @Option(names = "--kernel", paramLabel = "PATH") Path kernel;
        @Option(names = "--initrd", paramLabel = "PATH") Path initrd;
        @Option(names = "--cmdline", paramLabel = "STR", description = "Kernel command line (default: " + VmConfig.DEFAULT_CMDLINE + ").")
        String cmdline;
        @Option(names = "--cpus", paramLabel = "N", defaultValue = "1") int cpus;
        @Option(names = "--memory", paramLabel = "SIZE", defaultValue = "512M", description = "Guest RAM, e.g. 512M (whole MiB).")
        String memory;
        // The same grammar as `jkvm run` (one way to name a disk or a NIC on every command).
        @Option(names = "--disk", paramLabel = "path=FILE[,readonly=on][,id=NAME]",
                description = "A raw disk image (repeatable); the first is the root device.")
        List<String> drives = new ArrayList<>();
        @Option(names = "--net", paramLabel = "tap=NAME[,mac=MAC]", description = "A virtio-net interface on an existing TAP device (repeatable).")
        List<String> nets = new ArrayList<>();

        @Mixin
        PlacementOptions placement = new PlacementOptions();

        @Option(names = "--ksm", description = "Let the host's KSM merge identical pages of guest RAM (off by default).")
        boolean ksm;

        @Option(names = "--cgroup", paramLabel = "FILE=VALUE",
                description = "Write VALUE to cgroup file FILE of the VM's own cgroup, beneath the daemon's (cgroup v1); repeatable.")
        List<String> cgroups = new ArrayList<>();

        @Option(names = "--virtio-transport", paramLabel = "pci|mmio",
                description = "Where the VM's virtio devices go, as jkvm run's flag (default: pci).")
        String virtioTransport;

        @Option(names = "--display", arity = "0..1", fallbackValue = "", paramLabel = "width=N,height=N,vram=SIZE",
                description = "A display, as jkvm run's flag, served to the web console (jkvm daemon --http) over VNC.")
        String display;

        @Override
        public Integer call() {
            FullVmConfiguration config = configFile != null ? fromFile() : fromFlags();
            io.jkvm.resources.VmTuning tuning = tuning(config);
            Map<String, Object> body = new java.util.LinkedHashMap<>();
            body.put("name", name);
            body.put("config", config);
            if (!tuning.isEmpty()) {
                body.put("tuning", tuning);
            }
            if (virtioTransport != null) {
                try {
                    body.put("virtio_transport", io.jkvm.config.VirtioTransport.parse("--virtio-transport", virtioTransport)
                            .flagValue());
                } catch (io.jkvm.config.ConfigException e) {
                    throw new UserError(e.getMessage());
                }
            }
            if (display != null) {
                try {
                    io.jkvm.config.DisplayConfig d = io.jkvm.config.DisplayConfig.parse(display);
                    body.put("display", new io.jkvm.daemon.DisplayRequest(d.width(), d.height(), (int) (d.vramBytes() >> 20)));
                } catch (io.jkvm.config.ConfigException e) {
                    throw new UserError(e.getMessage());
                }
            }
            try (DaemonClient c = common.client()) {
                common.print(c.callJson("POST", "/vms", Json.write(body)));
            }
            return 0;
        }

        /**
         * The placement flags as the daemon keeps them. Checked here for syntax and vCPU numbers
         * only, with refusals naming the flag; the daemon validates the rest, and the VMM checks
         * the CPUs against the daemon host's, not this client's.
         */
        private io.jkvm.resources.VmTuning tuning(FullVmConfiguration config) {
            io.jkvm.resources.VcpuPlacement parsed = placement.parsedOnly();
            PlacementOptions.requireVcpus(parsed, config.machineConfig() == null || config.machineConfig().vcpuCount() == null
                    ? 1 : config.machineConfig().vcpuCount());
            Map<String, String> pins = new java.util.TreeMap<>();
            for (String pin : placement.vcpuPins) {
                int eq = pin.indexOf('=');
                pins.put(pin.substring(0, eq).strip(), pin.substring(eq + 1).strip());
            }
            io.jkvm.resources.VmTuning t = new io.jkvm.resources.VmTuning(pins, placement.vmmCpus, placement.vcpuSched,
                    placement.mlock ? Boolean.TRUE : null, placement.haltPollNs, ksm ? Boolean.TRUE : null, cgroups);
            try {
                t.cgroupSettings();
            } catch (IllegalArgumentException e) {
                throw new UserError(e.getMessage().replaceFirst("^tuning\\.cgroup", "--cgroup"));
            }
            return t;
        }

        private FullVmConfiguration fromFile() {
            if (kernel != null || initrd != null || !drives.isEmpty() || !nets.isEmpty()) {
                throw new UserError("--config-file cannot be combined with --kernel, --initrd, --disk or --net");
            }
            try {
                return ConfigFile.read(configFile.toAbsolutePath());
            } catch (io.jkvm.api.ApiException e) {
                throw new UserError(e.getMessage());
            }
        }

        FullVmConfiguration fromFlags() {
            if (kernel == null) {
                throw new UserError("give --kernel (or --config-file)");
            }
            long bytes;
            try {
                bytes = Size.parse(memory);
            } catch (IllegalArgumentException e) {
                throw new UserError("--memory " + memory + ": " + e.getMessage());
            }
            if (bytes % (1 << 20) != 0 || bytes >> 20 > Integer.MAX_VALUE) {
                throw new UserError("--memory " + memory + ": must be a whole number of MiB");
            }
            List<Drive> ds = new ArrayList<>();
            List<NetworkInterface> ns = new ArrayList<>();
            try {
                for (String text : drives) {
                    io.jkvm.storage.DiskConfig d = io.jkvm.storage.DiskConfig.parse(text);
                    String id = d.id() != null ? d.id() : ds.isEmpty() ? "rootfs" : "drive" + ds.size();
                    ds.add(new Drive(id, d.path().toAbsolutePath().toString(), ds.isEmpty(), d.readOnly(),
                            null, null, null, null, null, d.format() == io.jkvm.storage.DiskFormat.RAW ? null : d.format().id()));
                }
                for (String text : nets) {
                    io.jkvm.net.NetConfig.Given n = io.jkvm.net.NetConfig.parseGiven(text); // jkvm run's grammar and checks
                    ns.add(new NetworkInterface("eth" + ns.size(), n.tap(), n.mac() == null ? null : n.mac().toString(),
                            null, null));
                }
            } catch (io.jkvm.config.ConfigException | IllegalArgumentException e) {
                throw new UserError(e.getMessage());
            }
            return new FullVmConfiguration(
                    new BootSource(kernel.toAbsolutePath().toString(),
                            initrd == null ? null : initrd.toAbsolutePath().toString(), cmdline),
                    new MachineConfiguration(cpus, (int) (bytes >> 20), null, null, null, null), ds, ns, null, null, null, null);
        }
    }

    /** start/kill/pause/resume: a POST and the new status. */
    abstract static class Action implements Callable<Integer> {
        @Mixin Common common;
        @Parameters(paramLabel = "NAME") String name;

        abstract String action();

        String body() {
            return null;
        }

        /** How long the daemon may take for this action: VM starts and snapshots take minutes in the lab. */
        Duration defaultWait() {
            return DaemonClient.QUICK;
        }

        @Override
        public Integer call() {
            String body = body();
            try (DaemonClient c = common.client()) {
                common.print(c.callJson("POST", "/vms/" + name + "/" + action(), body, common.wait(defaultWait())));
            }
            return 0;
        }
    }

    @Command(name = "start", description = "Start a defined VM (spawns its VMM and boots it).")
    static final class Start extends Action {
        String action() {
            return "start";
        }

        @Override
        Duration defaultWait() {
            return DaemonClient.LONG;
        }
    }

    @Command(name = "stop", description = "Shut a VM down: Ctrl+Alt+Del, then kill it if it has not stopped by --timeout.")
    static final class Stop extends Action {
        @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "10", description = "Grace period (default: ${DEFAULT-VALUE}).")
        double timeout;

        String action() {
            return "stop";
        }

        @Override
        String body() {
            if (timeout < 0) {
                throw new UserError("--timeout " + timeout + ": must not be negative");
            }
            return Json.write(Map.of("timeout_ms", (long) (timeout * 1000)));
        }

        @Override
        Duration defaultWait() {
            return Duration.ofMillis((long) (timeout * 1000)).plus(DaemonClient.QUICK);
        }
    }

    @Command(name = "kill", description = "Stop a VM at once (SIGKILL to its VMM).")
    static final class Kill extends Action {
        String action() {
            return "kill";
        }
    }

    @Command(name = "pause", description = "Pause a running VM's vCPUs.")
    static final class Pause extends Action {
        String action() {
            return "pause";
        }
    }

    @Command(name = "resume", description = "Resume a paused VM.")
    static final class Resume extends Action {
        String action() {
            return "resume";
        }
    }

    @Command(name = "snapshot", description = {"Pause a VM and save a snapshot of it into --dir (vm.state, vm.mem); it stays paused.",
            "Snapshots are authenticated with the daemon's key (STATE_DIR/snapshot.key)."})
    static final class Snapshot extends Action {
        @Option(names = "--dir", paramLabel = "DIR", required = true, description = "Directory for the snapshot (created if absent).")
        Path dir;

        @Option(names = "--encrypt", description = "Encrypt the snapshot (AES-256-GCM) instead of only authenticating it.")
        boolean encrypt;

        String action() {
            return "snapshot";
        }

        @Override
        String body() {
            return Json.write(Map.of("dir", dir.toAbsolutePath().normalize().toString(), "encrypt", encrypt));
        }

        @Override
        Duration defaultWait() {
            return DaemonClient.LONG;
        }
    }

    @Command(name = "restore", description = {"Start a stopped VM from a snapshot in --dir instead of booting it.",
            "It continues where the snapshot (made by `jkvm vm snapshot`) was taken."})
    static final class Restore extends Action {
        @Option(names = "--dir", paramLabel = "DIR", required = true, description = "Directory holding vm.state and vm.mem.")
        Path dir;

        String action() {
            return "restore";
        }

        @Override
        String body() {
            return Json.write(Map.of("dir", dir.toAbsolutePath().normalize().toString()));
        }

        @Override
        Duration defaultWait() {
            return DaemonClient.LONG;
        }
    }

    @Command(name = "migrate", description = {"Live-migrate a running VM to a `jkvm run --incoming tcp:HOST:PORT` elsewhere.",
            "Pre-copy over mutually authenticated TLS 1.3 (jkvm daemon --tls-*); waits for the outcome, with progress on standard error.",
            "The VM is then recorded here as migrated: it runs at the destination, and is not started here again.",
            "Exit status 0 when it runs at the destination, 1 when the migration failed or was cancelled (it runs on here)."})
    static final class Migrate implements Callable<Integer> {
        @Mixin Common common;
        @Parameters(paramLabel = "NAME") String name;

        @Mixin MigrationOptions options;

        @Option(names = "--cancel", description = "Cancel this VM's migration in progress instead (it runs on here).")
        boolean cancel;

        @Override
        public Integer call() throws Exception {
            if (cancel) {
                if (options.to != null) {
                    throw new UserError("--cancel and --to do not go together");
                }
                try (DaemonClient c = common.client()) {
                    c.call("POST", "/vms/" + name + "/migrate/cancel", null);
                    System.out.println("cancel requested for the migration of " + name);
                }
                return 0;
            }
            String body = Json.write(options.request(null, null, null));
            try (DaemonClient c = common.client()) {
                String path = "/vms/" + name + "/migrate";
                c.call("POST", path, body, common.wait(DaemonClient.QUICK));
                io.jkvm.migration.MigrationReport r = options.await(
                        () -> Json.MAPPER.readValue(c.call("GET", path, null), io.jkvm.migration.MigrationReport.class),
                        new java.io.PrintWriter(System.err, true));
                System.out.println(common.json ? Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(r) : r.summary());
                return r.status() == io.jkvm.migration.MigrationReport.Status.COMPLETED ? 0 : Cli.EXIT_FAILURE;
            }
        }
    }

    @Command(name = "delete", description = "Remove a stopped VM and its files (--force kills a running one first).")
    static final class Delete implements Callable<Integer> {
        @Mixin Common common;
        @Parameters(paramLabel = "NAME") String name;
        @Option(names = "--force") boolean force;

        @Override
        public Integer call() {
            try (DaemonClient c = common.client()) {
                c.call("DELETE", "/vms/" + name + (force ? "?force=true" : ""), null);
            }
            if (!common.json) {
                System.out.println("deleted " + name);
            }
            return 0;
        }
    }

    @Command(name = "list", aliases = "ls", description = "List VMs.")
    static final class ListVms implements Callable<Integer> {
        @Mixin Common common;

        @Override
        public Integer call() {
            try (DaemonClient c = common.client()) {
                JsonNode all = c.callJson("GET", "/vms", null);
                if (common.json) {
                    System.out.println(all.toPrettyString());
                } else {
                    List<JsonNode> rows = new ArrayList<>();
                    all.forEach(rows::add);
                    printTable(rows);
                }
            }
            return 0;
        }
    }

    @Command(name = "show", description = "Show a VM's state, files and definition.")
    static final class Show implements Callable<Integer> {
        @Mixin Common common;
        @Parameters(paramLabel = "NAME") String name;

        @Override
        public Integer call() {
            try (DaemonClient c = common.client()) {
                JsonNode all = c.callJson("GET", "/vms/" + name, null);
                if (common.json) {
                    System.out.println(all.toPrettyString());
                } else {
                    all.path("status").properties().forEach(e -> System.out.printf("%-15s %s%n", e.getKey() + ":",
                            e.getValue().isNull() ? "-" : e.getValue().isContainerNode() ? e.getValue().toString()
                                    : e.getValue().asText()));
                    System.out.println("definition:");
                    System.out.println(all.path("definition").path("config").toPrettyString());
                }
            }
            return 0;
        }
    }

    @Command(name = "logs", description = "Print a VM's serial console log (--follow keeps printing).")
    static final class Logs implements Callable<Integer> {
        @Mixin Common common;
        @Parameters(paramLabel = "NAME") String name;
        @Option(names = {"-f", "--follow"}) boolean follow;
        @Option(names = "--bytes", paramLabel = "N", defaultValue = "65536", description = "How much of the end to print first.")
        int bytes;

        @Override
        public Integer call() throws Exception {
            Path log;
            try (DaemonClient c = common.client()) {
                if (!follow) {
                    System.out.print(c.call("GET", "/vms/" + name + "/log?bytes=" + bytes, null));
                    System.out.flush();
                    return 0;
                }
                log = Path.of(c.callJson("GET", "/vms/" + name, null).path("status").path("serial_log").asText());
            }
            long pos = Files.exists(log) ? Math.max(0, Files.size(log) - bytes) : 0;
            while (true) {
                if (Files.exists(log)) {
                    try (RandomAccessFile f = new RandomAccessFile(log.toFile(), "r")) {
                        if (f.length() < pos) {
                            pos = 0; // the log was replaced
                        }
                        f.seek(pos);
                        byte[] buf = new byte[(int) Math.min(1 << 20, f.length() - pos)];
                        f.readFully(buf);
                        pos += buf.length;
                        System.out.write(buf);
                        System.out.flush();
                    }
                }
                Thread.sleep(250);
            }
        }
    }

    @Command(name = "console-url", description = {"Print a login link to the daemon's web console (`jkvm daemon --http`).",
            "Without NAME the link opens every VM (the daemon's admin token); with NAME, that VM's page and sockets only.",
            "Links stop working when the daemon restarts (it draws a new token)."})
    static final class ConsoleUrl implements Callable<Integer> {
        @Option(names = "--state-dir", paramLabel = "DIR", description = "The daemon's state directory, read directly"
                + " (default: asked of the daemon at --socket).")
        Path stateDir;

        @Option(names = "--socket", paramLabel = "PATH", description = "The daemon's socket (default: $JKVM_DAEMON_SOCKET or the state dir's daemon.sock).")
        Path socket;

        @Parameters(paramLabel = "NAME", arity = "0..1", description = "Only this VM.") String name;

        @Override
        public Integer call() throws Exception {
            Path dir = stateDir;
            if (dir == null) {
                try (DaemonClient c = new DaemonClient(socket != null ? socket : DaemonPaths.defaultSocket())) {
                    dir = Path.of(c.callJson("GET", "/", null).path("state_dir").asText());
                }
            }
            if (name != null) {
                try {
                    io.jkvm.daemon.VmName.require(name);
                } catch (RuntimeException e) {
                    throw new UserError(e.getMessage());
                }
            }
            io.jkvm.daemon.web.WebConsoleFile f;
            try {
                f = io.jkvm.daemon.web.WebConsoleFile.read(dir);
            } catch (IOException e) {
                throw new ExitCodeError(Cli.EXIT_FAILURE, "cannot read " + io.jkvm.daemon.web.WebConsoleFile.in(dir) + ": " + e.getMessage());
            }
            if (f == null || !ProcessHandle.of(f.pid()).map(ProcessHandle::isAlive).orElse(false)) {
                throw new ExitCodeError(DaemonClient.EXIT_NO_DAEMON, "no web console: start the daemon with --http ADDR"
                        + " (state directory " + dir + ")");
            }
            System.out.println(f.loginUrl(name));
            return 0;
        }
    }

    @Command(name = "console", description = {"Attach to a VM's serial console (Ctrl-] detaches; the VM keeps running)."})
    static final class Console implements Callable<Integer> {
        static final int DETACH = 0x1d; // Ctrl-]
        @Mixin Common common;
        @Parameters(paramLabel = "NAME") String name;

        @Override
        public Integer call() throws Exception {
            JsonNode status;
            try (DaemonClient c = common.client()) {
                status = c.callJson("GET", "/vms/" + name, null).path("status");
            }
            if (status.path("pid").isNull() || status.path("pid").isMissingNode()) {
                throw new ExitCodeError(DaemonClient.EXIT_WRONG_STATE, "VM '" + name + "' is not running");
            }
            Path sock = Path.of(status.path("console_socket").asText());
            try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                ch.connect(UnixDomainSocketAddress.of(sock));
                System.err.println("jkvm: attached to " + name + "'s console; Ctrl-] detaches");
                io.jkvm.vmm.RawTerminal raw = io.jkvm.vmm.RawTerminal.enterIfTty();
                try {
                    Thread out = Thread.ofPlatform().daemon(true).start(() -> copyOut(ch));
                    copyIn(System.in, ch, raw != null);
                    out.interrupt();
                } finally {
                    if (raw != null) {
                        raw.close();
                    }
                }
            } catch (IOException e) {
                throw new ExitCodeError(Cli.EXIT_FAILURE, "cannot attach to " + sock + ": " + e.getMessage());
            }
            System.err.println("\r\njkvm: detached");
            return 0;
        }

        private static void copyOut(SocketChannel ch) {
            try {
                InputStream in = Channels.newInputStream(ch);
                OutputStream out = System.out;
                byte[] buf = new byte[4096];
                int n;
                while ((n = in.read(buf)) >= 0) {
                    out.write(buf, 0, n);
                    out.flush();
                }
            } catch (IOException e) {
                // detached or the VM ended
            }
        }

        private static void copyIn(InputStream in, SocketChannel ch, boolean interactive) throws IOException {
            byte[] buf = new byte[256];
            int n;
            while ((n = in.read(buf)) >= 0) {
                int len = n;
                if (interactive) {
                    for (int i = 0; i < n; i++) {
                        if (buf[i] == DETACH) {
                            len = i;
                            break;
                        }
                    }
                }
                ByteBuffer b = ByteBuffer.wrap(buf, 0, len);
                while (b.hasRemaining()) {
                    ch.write(b);
                }
                if (len < n) {
                    return;
                }
            }
        }
    }
}
