package io.jkvm.cli;

import io.jkvm.api.LoggerConfig;
import io.jkvm.api.MetricsConfig;
import io.jkvm.api.Versions;
import io.jkvm.api.VmmAction;
import io.jkvm.config.OnReboot;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;

/**
 * {@code jkvm firecracker} (and {@code bin/firecracker}): the VMM with Firecracker's command line,
 * so tools that launch a {@code firecracker} binary (Kata Containers, firecracker-containerd, the
 * Go SDK, Firecracker's jailer, which appends {@code --id} and the {@code --start-time-*} flags)
 * can launch jkvm. Every flag Firecracker's {@code main.rs} defines is either honoured or refused
 * with one line naming it; the VMM behind it is {@code jkvm run --api-sock}'s.
 */
@Command(name = "firecracker", sortOptions = false, versionProvider = FirecrackerCommand.Version.class,
        description = {"Run the VMM with Firecracker's command line (what bin/firecracker runs).",
                "It serves the Firecracker API on --api-sock and boots on InstanceStart, or boots --config-file at once.",
                "Exit status as jkvm run: 0 guest powered off or rebooted, 1 guest or VMM error, 2 bad configuration."})
public final class FirecrackerCommand implements Callable<Integer> {
    /** Firecracker's instance ids: alphanumeric and '-', 1 to 64 characters (its validators.rs). */
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9-]{1,64}");

    @Option(names = "--api-sock", paramLabel = "PATH", description = "API socket (default: ${DEFAULT-VALUE}).")
    Path apiSock = Path.of("/run/firecracker.socket");

    @Option(names = "--id", paramLabel = "ID", description = "MicroVM id (default: ${DEFAULT-VALUE}).")
    String id = "anonymous-instance";

    @Option(names = "--config-file", paramLabel = "FILE", description = "Boot from this JSON configuration.")
    Path configFile;

    @Option(names = "--no-api", description = "Serve no API (needs --config-file).")
    boolean noApi;

    @Option(names = "--log-path", paramLabel = "PATH", description = "Write the log here (as PUT /logger's log_path).")
    String logPath;

    @Option(names = "--level", paramLabel = "LEVEL", description = "Log level: Error, Warning, Info, Debug, Trace, Off.")
    String level;

    @Option(names = "--module", paramLabel = "MODULE", description = "Log only this module (as PUT /logger's module).")
    String module;

    @Option(names = "--show-level", description = "Show the level in log lines.")
    boolean showLevel;

    @Option(names = "--show-log-origin", description = "Show the origin in log lines.")
    boolean showLogOrigin;

    @Option(names = "--metrics-path", paramLabel = "PATH", description = "Write metrics here (as PUT /metrics).")
    String metricsPath;

    @Option(names = "--no-seccomp", description = "Install no seccomp filter (as jkvm's --seccomp off).")
    boolean noSeccomp;

    @Option(names = "--seccomp", paramLabel = "off|log|on",
            description = "jkvm's seccomp filter once the guest starts: on kills the VMM on a denied call, log logs it"
                    + " (default: on where the kernel has seccomp filters).")
    String seccomp;

    @Option(names = "--landlock", paramLabel = "off|auto|on",
            description = "jkvm's Landlock confinement once the guest starts (default: auto, where the kernel has it).")
    String landlock;

    @Option(names = "--seccomp-filter", paramLabel = "FILE", description = "Refused: Firecracker's compiled BPF filters do not apply to jkvm.")
    Path seccompFilter;

    @Option(names = "--enable-pci", description = "virtio devices on PCI; without it they are on virtio-mmio, as Firecracker's.")
    boolean enablePci;

    @Option(names = "--start-time-us", paramLabel = "US", description = "Process start (CLOCK_MONOTONIC µs), from the jailer: start-up time is logged.")
    Long startTimeUs;

    @Option(names = "--start-time-cpu-us", paramLabel = "US", description = "Process CPU time at start (µs), from the jailer.")
    Long startTimeCpuUs;

    @Option(names = "--parent-cpu-time-us", paramLabel = "US", description = "The jailer's CPU time (µs).")
    Long parentCpuTimeUs;

    @Option(names = "--boot-timer", description = "Refused: jkvm has no boot-timer device.")
    boolean bootTimer;

    @Option(names = "--http-api-max-payload-size", paramLabel = "BYTES", description = "Refused unless it is jkvm's limit.")
    Long maxPayload;

    @Option(names = "--mmds-size-limit", paramLabel = "BYTES",
            description = "Most bytes the MMDS document may take (default: the API's body limit, as Firecracker).")
    Long mmdsSizeLimit;

    @Option(names = "--metadata", paramLabel = "FILE", description = "Put this JSON file into the MMDS at start-up.")
    Path metadata;

    @Option(names = {"-V", "--version"}, versionHelp = true, description = "Print the version (Firecracker's format).")
    boolean version;

    @Option(names = {"-h", "--help"}, usageHelp = true, description = "Show this help.")
    boolean help;

    @Override
    public Integer call() throws Exception {
        List<VmmAction> initial = checkedFlags();
        Path sock = noApi ? null : apiSock;
        // Firecracker exits on a guest reboot (there is no reset path in a microVM): so does this.
        ApiVmm vmm = new ApiVmm(sock, configFile, null, id, OnReboot.EXIT, null, null, null).initialActions(initial)
                .startTimes(startTimeUs, startTimeCpuUs, parentCpuTimeUs).confinement(confinement())
                .virtioTransport(virtioTransport()).mmdsSizeLimit(mmdsSizeLimit);
        return RunCommand.exitStatus(vmm.run());
    }

    /** The flags checked in order, one line for the first that is wrong; the logger and metrics actions they ask for. */
    List<VmmAction> checkedFlags() {
        if (!ID.matcher(id).matches()) {
            throw new UserError("--id '" + id + "': must be 1 to 64 letters, digits or '-'");
        }
        if (noApi && configFile == null) {
            throw new UserError("--no-api needs --config-file (without the API the configuration must come from it)");
        }
        if (seccompFilter != null) {
            throw new UserError("--seccomp-filter: not supported (Firecracker's compiled BPF filters do not apply to jkvm;"
                    + " leave it out or use --no-seccomp)");
        }
        if (bootTimer) {
            throw new UserError("--boot-timer: not supported (jkvm has no boot-timer device; the log's instance_started"
                    + " event and GET /jkvm/metrics give start-up times)");
        }
        if (mmdsSizeLimit != null && mmdsSizeLimit < 0) {
            throw new UserError("--mmds-size-limit " + mmdsSizeLimit + ": must not be negative");
        }
        if (maxPayload != null && maxPayload != io.jkvm.api.UdsHttpServer.MAX_BODY) {
            throw new UserError("--http-api-max-payload-size " + maxPayload + ": not supported (jkvm's API takes bodies of up to "
                    + io.jkvm.api.UdsHttpServer.MAX_BODY + " bytes; leave it out)");
        }
        for (Long us : new Long[] {startTimeUs, startTimeCpuUs, parentCpuTimeUs}) {
            if (us != null && us < 0) {
                throw new UserError("--start-time-us, --start-time-cpu-us and --parent-cpu-time-us must not be negative");
            }
        }
        List<VmmAction> actions = new ArrayList<>();
        if (logPath != null || level != null || module != null || showLevel || showLogOrigin) {
            if (logPath == null) {
                throw new UserError("--level, --module, --show-level and --show-log-origin go with --log-path");
            }
            actions.add(new VmmAction.ConfigureLogger(new LoggerConfig(logPath, level, showLevel ? true : null,
                    showLogOrigin ? true : null, module)));
        }
        if (metricsPath != null) {
            actions.add(new VmmAction.ConfigureMetrics(new MetricsConfig(metricsPath)));
        }
        if (metadata != null) {
            actions.add(new VmmAction.PutMmds(metadataDocument(metadata)));
        }
        return actions;
    }

    /**
     * Firecracker puts its devices on virtio-mmio (and its guests' kernels, Kata's with
     * {@code pci=off} among them, expect them there); {@code --enable-pci} moves them to PCI.
     */
    io.jkvm.config.VirtioTransport virtioTransport() {
        return enablePci ? io.jkvm.config.VirtioTransport.PCI : io.jkvm.config.VirtioTransport.MMIO;
    }

    /** {@code --metadata}: the file's JSON (its size is checked against the store's limit when it is put). */
    static com.fasterxml.jackson.databind.JsonNode metadataDocument(Path file) {
        try {
            if (java.nio.file.Files.size(file) > 16L * io.jkvm.api.UdsHttpServer.MAX_BODY) {
                throw new UserError("--metadata " + file + ": too large for the MMDS");
            }
            return io.jkvm.api.Json.parse(java.nio.file.Files.readAllBytes(file), com.fasterxml.jackson.databind.JsonNode.class);
        } catch (java.io.IOException e) {
            throw new UserError("--metadata " + file + ": cannot read: " + e.getMessage());
        } catch (io.jkvm.api.ApiException e) {
            throw new UserError("--metadata " + file + ": " + e.getMessage());
        }
    }

    /** --no-seccomp is --seccomp off (Firecracker's flag); --seccomp and --landlock checked against this kernel. */
    io.jkvm.isolation.Confinement confinement() {
        if (noSeccomp && seccomp != null && !seccomp.equals("off")) {
            throw new UserError("--no-seccomp and --seccomp " + seccomp + " contradict each other");
        }
        try {
            return io.jkvm.isolation.Confinement.of(noSeccomp ? "off" : seccomp, landlock).checked();
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
    }

    /** Firecracker's {@code --version} layout: "Firecracker vX.Y.Z" first (what Kata parses), then jkvm's own. */
    static final class Version implements picocli.CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"Firecracker v" + Versions.FIRECRACKER_API, "",
                    "jkvm " + Versions.JKVM + " (a Firecracker API " + Versions.FIRECRACKER_API + " compatible VMM)"};
        }
    }
}
