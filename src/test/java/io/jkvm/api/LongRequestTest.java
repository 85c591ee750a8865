package io.jkvm.api;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A request that takes longer than the connection idle timeouts (a VM start in the lab took 38 s)
 * is answered: neither the server's idle timeout nor the client's cuts it. A client whose own
 * limit fires says which limit it was and what was pending.
 */
class LongRequestTest {
    /** Long enough past both idle timeouts below that an idle timer would have fired. */
    private static final Duration WORK = Duration.ofMillis(2500);

    @Test
    void aSlowAnswerOutlivesBothIdleTimeouts(@TempDir Path dir) throws Exception {
        Path sock = dir.resolve("slow.sock");
        CountDownLatch entered = new CountDownLatch(1);
        HttpEndpoint slow = (method, path, query, body) -> {
            entered.countDown();
            // The work under test is time passing with no bytes on the connection.
            sleep(WORK);
            return HttpReply.json(200, "{\"done\":true}");
        };
        try (UdsHttpServer server = UdsHttpServer.start(sock, slow, 4, Duration.ofMillis(500));
                UdsHttpClient client = new UdsHttpClient(sock, Duration.ofMillis(500))) {
            UdsHttpClient.Reply r = client.send("POST", "/vms/a/start", null, Duration.ofSeconds(60));
            assertThat(entered.await(0, TimeUnit.SECONDS)).isTrue();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.body()).isEqualTo("{\"done\":true}");
        }
    }

    @Test
    void aClientTimeoutNamesItsLimitAndTheRequest(@TempDir Path dir) throws Exception {
        Path sock = dir.resolve("stuck.sock");
        CountDownLatch release = new CountDownLatch(1);
        HttpEndpoint stuck = (method, path, query, body) -> {
            await(release);
            return HttpReply.json(200, "{}");
        };
        try (UdsHttpServer server = UdsHttpServer.start(sock, stuck, 4, Duration.ofSeconds(30));
                UdsHttpClient client = new UdsHttpClient(sock)) {
            assertThatThrownBy(() -> client.send("POST", "/vms/a/start", null, Duration.ofMillis(700)))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("POST /vms/a/start")
                    .hasMessageContaining("700 ms");
        } finally {
            release.countDown();
        }
    }

    private static void sleep(Duration d) {
        try {
            Thread.sleep(d);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void await(CountDownLatch l) {
        try {
            l.await(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static String utf8(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }
}
