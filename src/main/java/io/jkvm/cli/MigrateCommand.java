package io.jkvm.cli;

import io.jkvm.api.Json;
import io.jkvm.api.UdsHttpClient;
import io.jkvm.api.UdsHttpServer;
import io.jkvm.migration.MigrationReport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code jkvm migrate}: live-migrates the VM behind a per-VM API socket to a {@code jkvm run
 * --incoming} elsewhere, waits for the outcome and prints the report (one summary line, then
 * the JSON of GET /migrate) on standard output; progress goes to standard error meanwhile. Exit 0 when the VM now runs at the destination, 1 when the
 * migration failed or was cancelled (the VM runs on here), 2 for a bad option.
 */
@Command(name = "migrate", sortOptions = false,
        description = {"Live-migrate a running VM (pre-copy over mutually authenticated TLS 1.3).",
                "The destination is a `jkvm run --incoming tcp:HOST:PORT` with certificates from the same CA."})
public final class MigrateCommand implements Callable<Integer> {
    @Option(names = "--api-sock", paramLabel = "PATH", required = true, description = "The source VM's API socket.")
    Path apiSock;

    @picocli.CommandLine.Mixin
    MigrationOptions options;

    @Option(names = "--tls-cert", paramLabel = "PEM", description = "Certificate the source VMM presents (default: the VMM's own --tls-cert).")
    Path tlsCert;

    @Option(names = "--tls-key", paramLabel = "PEM", description = "Its PKCS#8 private key.")
    Path tlsKey;

    @Option(names = "--tls-ca", paramLabel = "PEM", description = "CA the destination's certificate must chain to.")
    Path tlsCa;

    @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Map<String, Object> request = options.request(tlsCert, tlsKey, tlsCa);
        if (!UdsHttpServer.listening(apiSock)) {
            throw new UserError("--api-sock " + apiSock + ": no VMM is listening there");
        }
        try (UdsHttpClient http = new UdsHttpClient(apiSock)) {
            UdsHttpClient.Reply r = http.send("PUT", "/migrate", Json.MAPPER.writeValueAsString(request), Duration.ofSeconds(30));
            if (!r.ok()) {
                throw new ExitCodeError(Cli.EXIT_FAILURE, "the VMM refused the migration: " + fault(r.body()));
            }
            // The VMM stays up until a client has read its finished report: this one.
            MigrationReport report = options.await(() -> {
                UdsHttpClient.Reply g = http.get("/migrate", Duration.ofSeconds(30));
                if (!g.ok()) {
                    throw new ExitCodeError(Cli.EXIT_FAILURE, "GET /migrate: " + fault(g.body()));
                }
                return Json.MAPPER.readValue(g.body(), MigrationReport.class);
            }, spec.commandLine().getErr());
            java.io.PrintWriter out = spec.commandLine().getOut();
            out.println(report.summary());
            out.println(Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(report));
            out.flush();
            return report.status() == MigrationReport.Status.COMPLETED ? 0 : Cli.EXIT_FAILURE;
        }
    }

    private static String fault(String body) {
        try {
            return Json.MAPPER.readTree(body).path("fault_message").asText(body);
        } catch (IOException e) {
            return body;
        }
    }
}
