package io.jkvm.cli;

import io.jkvm.api.EventLog;
import io.jkvm.api.UdsHttpServer;
import io.jkvm.config.HostLimits;
import io.jkvm.daemon.Daemon;
import io.jkvm.daemon.DaemonApi;
import io.jkvm.daemon.DaemonPaths;
import io.jkvm.daemon.StateStore;
import io.jkvm.kvm.Kvm;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code jkvm daemon}: the host daemon that defines, runs and supervises VMs (one VMM process each). */
@Command(name = "daemon", sortOptions = false,
        description = {"Run the host daemon: VMs are managed through its Unix socket (see `jkvm vm`).",
                "Each VM runs in its own VMM process that outlives the daemon; a restarted daemon finds",
                "running VMs again. Logs are JSON lines on stderr."})
public final class DaemonCommand implements Callable<Integer> {
    @Option(names = "--state-dir", paramLabel = "DIR", description = "Definitions, state, logs, VM sockets (default: $JKVM_STATE_DIR, /var/lib/jkvm as root, else ~/.local/state/jkvm).")
    Path stateDir;

    @Option(names = "--socket", paramLabel = "PATH", description = "The daemon's API socket (default: $JKVM_DAEMON_SOCKET or STATE_DIR/daemon.sock).")
    Path socket;

    @Option(names = "--allow-realtime", description = "Let VMs ask for real-time vCPU scheduling (tuning.vcpu_sched fifo/rr);"
            + " refused by default, since a real-time vCPU can starve the host.")
    boolean allowRealtime;

    @Option(names = "--vm-uids", paramLabel = "FIRST-LAST",
            description = "Run each VM's VMM as its own user, an id from this range (e.g. 200000-200999), with its"
                    + " writable disks made that user's alone: one VM cannot open another's disks.")
    String vmUids;

    @Option(names = "--http", paramLabel = "ADDR",
            description = "Also serve the web console (VM list, serial consoles, screens) over plain HTTP on ADDR,"
                    + " e.g. 127.0.0.1:8090 (port 0: any free port); loopback only unless --http-allow-remote."
                    + " `jkvm vm console-url [NAME]` prints a login link.")
    String http;

    @Option(names = "--http-allow-remote", description = "Let --http listen on a non-loopback address (its token and"
            + " consoles then cross the network unencrypted: put it behind a TLS proxy).")
    boolean httpAllowRemote;

    @Option(names = "--tls-cert", paramLabel = "PEM", description = "This host's certificate for live migration"
            + " (`jkvm vm migrate`), given to every VMM it starts, as libvirt's per-host migration TLS; with --tls-key and --tls-ca.")
    Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "PEM", description = "Its PKCS#8 private key.")
    Path tlsKey;

    @Option(names = "--tls-ca", paramLabel = "PEM", description = "The CA migration peers' certificates must chain to.")
    Path tlsCa;

    @Option(names = "--web-assets", paramLabel = "DIR", description = "The web console's xterm.js and noVNC"
            + " (default: build/web in the jkvm directory, fetched by bin/web-assets).")
    Path webAssets;

    @Override
    public Integer call() throws Exception {
        try {
            Daemon.checkEnvironment();
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        io.jkvm.isolation.UidRange uids;
        try {
            uids = vmUids == null ? null : io.jkvm.isolation.UidRange.parse(vmUids);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        java.util.List<String> tlsFlags = java.util.List.of();
        io.jkvm.migration.MigrationTls tls = MigrationTlsFlags.checked(tlsCert, tlsKey, tlsCa);
        if (tls != null && uids != null) {
            // Each VMM then runs as its own user, which must not be able to read the host's key.
            throw new UserError("--tls-key: not with --vm-uids (each VMM runs as its own user, which must not hold the"
                    + " host's private key)");
        }
        if (tls != null) {
            tlsFlags = java.util.List.of("--tls-cert", tlsCert.toAbsolutePath().toString(), "--tls-key",
                    tlsKey.toAbsolutePath().toString(), "--tls-ca", tlsCa.toAbsolutePath().toString());
        }
        if (uids != null && io.jkvm.kvm.Native.geteuid() != 0) {
            throw new UserError("--vm-uids: the daemon must run as root to start VMMs that become other users");
        }
        io.jkvm.daemon.web.HttpAddress httpAddress = null;
        if (http != null) {
            try {
                httpAddress = io.jkvm.daemon.web.HttpAddress.parse(http, httpAllowRemote);
            } catch (IllegalArgumentException e) {
                throw new UserError(e.getMessage());
            }
        } else if (httpAllowRemote || webAssets != null) {
            throw new UserError((httpAllowRemote ? "--http-allow-remote" : "--web-assets") + ": only with --http ADDR");
        }
        Path dir = stateDir != null ? stateDir : DaemonPaths.defaultStateDir();
        Path sock = socket != null ? socket : (stateDir != null ? dir.resolve("daemon.sock") : DaemonPaths.defaultSocket());
        EventLog log = EventLog.toStderr("daemon");
        for (String var : io.jkvm.daemon.VmmProcess.jvmOptionVariablesSet(System.getenv())) {
            // Said once at start: the daemon's JVM took them, its VMMs will not.
            log.warn("jvm_options_not_passed_on", "variable", var, "note",
                    "applies to the daemon's JVM only; options for VMMs go in " + io.jkvm.daemon.VmmProcess.JAVA_OPTS_ENV);
        }
        StateStore store;
        try {
            store = new StateStore(dir);
        } catch (IOException e) {
            throw new UserError("--state-dir " + dir + ": " + e.getMessage());
        }
        int maxVcpus = 255;
        try (Kvm kvm = Kvm.open()) {
            maxVcpus = kvm.maxVcpus();
        } catch (RuntimeException e) {
            log.warn("kvm_unavailable", "error", e.getMessage());
        }
        Daemon daemon = new Daemon(store, log, new HostLimits(maxVcpus, HostLimits.hostMemory())).allowRealtime(allowRealtime).vmUids(uids)
                .vmmFlags(tlsFlags);
        UdsHttpServer server;
        try {
            server = UdsHttpServer.start(sock, new DaemonApi(daemon, log), 48, Duration.ofSeconds(30));
        } catch (IOException e) {
            daemon.close();
            throw new UserError("--socket: " + e.getMessage());
        }
        io.jkvm.daemon.web.WebConsole web = null;
        if (httpAddress != null) {
            try {
                web = WebConsoles.start(httpAddress, daemon, store, webAssets, log);
            } catch (IOException e) {
                server.close();
                daemon.close();
                throw new UserError("--http " + http + ": " + e.getMessage());
            }
        }
        io.jkvm.daemon.web.WebConsole webConsole = web;
        CountDownLatch done = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            log.info("daemon_stopping", "note", "VMs keep running");
            if (webConsole != null) {
                webConsole.close();
                io.jkvm.daemon.web.WebConsoleFile.remove(store.root());
            }
            server.close();
            daemon.close();
            done.countDown();
        }, "daemon-shutdown"));
        log.info("daemon_listening", "socket", sock, "state_dir", store.root(), "pid", ProcessHandle.current().pid(),
                "vms", daemon.list().size());
        done.await();
        return 0;
    }
}
