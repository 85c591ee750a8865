package io.jkvm.cli;

import io.jkvm.migration.TestPki;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** Every bad migration option of jkvm migrate / jkvm run is one line naming it, exit status 2. */
class MigrateOptionsTest {
    @TempDir
    static Path dir;
    static TestPki pki;

    @BeforeAll
    static void pki() throws Exception {
        pki = TestPki.create(dir);
    }

    static Stream<Object[]> cases() {
        String sock = dir.resolve("no.sock").toString();
        String cert = dir.resolve("source.pem").toString(), key = dir.resolve("source.key").toString(),
                ca = dir.resolve("ca.pem").toString();
        return Stream.of(
                new Object[] {new String[] {"migrate", "--api-sock", sock}, "--to tcp:HOST:PORT is required"},
                new Object[] {new String[] {"migrate", "--api-sock", sock, "--to", "host:1"}, "--to: expected tcp:HOST:PORT, got host:1"},
                new Object[] {new String[] {"migrate", "--api-sock", sock, "--to", "tcp:h:0"}, "--to: port 0 is only allowed for listening (--incoming)"},
                new Object[] {new String[] {"migrate", "--api-sock", sock, "--to", "tcp:h:1", "--max-downtime-ms", "0"},
                        "--max-downtime-ms: 0 outside 1..3600000"},
                new Object[] {new String[] {"migrate", "--api-sock", sock, "--to", "tcp:h:1", "--tls-cert", cert},
                        "--tls-cert, --tls-key and --tls-ca go together"},
                new Object[] {new String[] {"migrate", "--api-sock", sock, "--to", "tcp:h:1", "--tls-cert", cert,
                        "--tls-key", dir.resolve("dest.key").toString(), "--tls-ca", ca}, "--tls-key: "},
                new Object[] {new String[] {"migrate", "--api-sock", sock, "--to", "tcp:h:1", "--tls-cert", ca + ".missing",
                        "--tls-key", key, "--tls-ca", ca}, "--tls-cert: cannot read"},
                new Object[] {new String[] {"migrate", "--api-sock", sock, "--to", "tcp:h:1"}, "--api-sock " + sock + ": no VMM is listening there"},
                new Object[] {new String[] {"run", "--incoming", "tcp:127.0.0.1:0"}, "--incoming needs --api-sock"},
                new Object[] {new String[] {"run", "--api-sock", sock, "--incoming", "tcp:127.0.0.1:0"},
                        "--incoming needs --tls-cert, --tls-key and --tls-ca"},
                new Object[] {new String[] {"run", "--api-sock", sock, "--incoming", "127.0.0.1:0", "--tls-cert", cert,
                        "--tls-key", key, "--tls-ca", ca}, "--incoming: expected tcp:HOST:PORT, got 127.0.0.1:0"},
                new Object[] {new String[] {"run", "--kernel", "/k", "--tls-cert", cert, "--tls-key", key, "--tls-ca", ca},
                        "--tls-cert/--tls-key/--tls-ca go with --api-sock"},
                new Object[] {new String[] {"migrate", "--api-sock", sock, "--to", "tcp:h:1", "--copy-drive", "a", "--copy-drive", "a"},
                        "--copy-drive: a drive is named twice"},
                new Object[] {new String[] {"vm", "migrate", "web", "--socket", sock, "--to", "tcp:h:1", "--copy-drive", " "},
                        "--copy-drive: a drive id is empty"},
                new Object[] {new String[] {"vm", "migrate", "web", "--socket", sock}, "--to tcp:HOST:PORT is required"},
                new Object[] {new String[] {"vm", "migrate", "web", "--socket", sock, "--to", "tcp:h:1", "--cancel"},
                        "--cancel and --to do not go together"},
                new Object[] {new String[] {"vm", "migrate", "web", "--socket", sock, "--to", "tcp:h"},
                        "--to: expected tcp:HOST:PORT, got tcp:h"},
                new Object[] {new String[] {"vm", "migrate", "web", "--socket", sock, "--to", "tcp:h:1", "--max-downtime-ms", "-5"},
                        "--max-downtime-ms: -5 outside 1..3600000"},
                new Object[] {new String[] {"daemon", "--state-dir", dir.resolve("state").toString(), "--tls-ca", ca},
                        "--tls-cert, --tls-key and --tls-ca go together"},
                new Object[] {new String[] {"daemon", "--state-dir", dir.resolve("state").toString(), "--tls-cert", cert,
                        "--tls-key", dir.resolve("dest.key").toString(), "--tls-ca", ca}, "--tls-key: "},
                new Object[] {new String[] {"daemon", "--state-dir", dir.resolve("state").toString(), "--vm-uids", "200000-200009",
                        "--tls-cert", cert, "--tls-key", key, "--tls-ca", ca}, "--tls-key: not with --vm-uids"});
    }

    @ParameterizedTest
    @MethodSource("cases")
    void badOptionsAreOneLineNamingThem(String[] args, String message) {
        CommandLine cl = Cli.commandLine();
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err));
        cl.setOut(new PrintWriter(new StringWriter()));
        int status = cl.execute(args);
        String text = err.toString().strip();
        assertThat(status).as(text).isEqualTo(Cli.EXIT_USAGE);
        assertThat(text.lines().count()).as(text).isEqualTo(1);
        assertThat(text).startsWith("jkvm: ").contains(message);
    }
}
