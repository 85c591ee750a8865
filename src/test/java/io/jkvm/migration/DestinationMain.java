package io.jkvm.migration;

import io.jkvm.snapshot.CounterGuest;

import javax.net.ssl.SSLServerSocket;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * A destination in its own JVM for the cross-process test: listens on loopback (port printed as
 * "PORT n"), receives the counter guest, checks it continues, prints "RESULT ok ..." or
 * "RESULT fail ..." with the RAM checksum it received.
 */
public final class DestinationMain {
    public static void main(String[] args) throws Exception {
        Path certs = Path.of(args[0]);
        MigrationTls tls = new MigrationTls(certs.resolve("dest.pem"), certs.resolve("dest.key"), certs.resolve("ca.pem"));
        try (SSLServerSocket server = tls.listen(new MigrationAddress("127.0.0.1", 0))) {
            System.out.println("PORT " + server.getLocalPort());
            System.out.flush();
            IncomingMigration.Result r = IncomingMigration.receive(server, MigrationDirectTest.Target::new);
            try (MigrationDirectTest.Target t = (MigrationDirectTest.Target) r.target()) {
                int at = t.counterBeforeStart;
                boolean advanced = t.progress.awaitAtLeast(at + 3, TimeUnit.SECONDS.toNanos(60));
                t.machine.pause();
                int c = t.machine.memory().readInt(CounterGuest.COUNTER);
                String problem = CounterGuest.patternProblem(t.machine.memory(), c);
                boolean ok = advanced && problem == null && t.progress.first.get() == at + 1;
                System.out.printf("RESULT %s checksum=%s counter=%d now=%d first=%d bytes=%d rounds=%d problem=%s%n",
                        ok ? "ok" : "fail", t.checksumBeforeStart, at, c, t.progress.first.get(), r.bytes(), r.rounds(),
                        problem);
            }
        }
        System.exit(0);
    }
}
