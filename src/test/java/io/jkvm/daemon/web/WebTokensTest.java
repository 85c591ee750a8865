package io.jkvm.daemon.web;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class WebTokensTest {
    @TempDir
    Path dir;

    @Test
    void theAdminTokenIsAFresh256BitSecretAndSeesEveryVm() {
        WebTokens t = WebTokens.generate();
        assertThat(Base64.getUrlDecoder().decode(t.adminToken())).hasSize(32);
        assertThat(WebTokens.generate().adminToken()).isNotEqualTo(t.adminToken());
        assertThat(t.check(t.adminToken())).contains(Scope.ADMIN);
        assertThat(Scope.ADMIN.covers("anything")).isTrue();
        assertThat(WebTokens.fromAdminToken(t.adminToken()).vmToken("a")).isEqualTo(t.vmToken("a"));
    }

    @Test
    void aVmTokenOpensThatVmOnly() {
        WebTokens t = WebTokens.generate();
        String a = t.vmToken("alpha");
        assertThat(t.check(a)).contains(Scope.of("alpha"));
        assertThat(Scope.of("alpha").covers("beta")).isFalse();
        assertThat(t.check(a.replace("alpha~", "beta~"))).isEmpty();
        assertThat(t.check("beta" + a.substring(a.indexOf('~')))).isEmpty();
        assertThat(t.check(a.substring(0, a.length() - 1))).isEmpty();
        assertThat(t.check(a + "A")).isEmpty();
        assertThat(WebTokens.generate().check(a)).isEmpty();
        assertThat(t.check("../x~" + a.substring(a.indexOf('~') + 1))).isEmpty();
        assertThat(t.check("")).isEmpty();
        assertThat(t.check(null)).isEmpty();
        assertThat(t.check("a".repeat(10_000))).isEmpty();
        assertThatThrownBy(() -> t.vmToken("Bad Name")).hasMessageContaining("VM name");
    }

    @Test
    void theTokenFileIsTheOwnersAlone() throws Exception {
        new WebConsoleFile("http://127.0.0.1:8090/", WebTokens.generate().adminToken(), 1).write(dir);
        Path f = WebConsoleFile.in(dir);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(f))).isEqualTo("rw-------");
        WebConsoleFile back = WebConsoleFile.read(dir);
        assertThat(back.loginUrl(null)).startsWith("http://127.0.0.1:8090/login#token=").endsWith(back.token());
        assertThat(back.loginUrl("alpha")).contains("#token=alpha~");
        assertThat(WebConsoleFile.read(dir.resolve("none"))).isNull();
    }

    @Test
    void sessionsAreBoundedAndExpire() {
        java.util.concurrent.atomic.AtomicReference<java.time.Instant> now = new java.util.concurrent.atomic.AtomicReference<>(java.time.Instant.EPOCH);
        java.time.Clock clock = new java.time.Clock() {
            public java.time.ZoneId getZone() { return java.time.ZoneOffset.UTC; }
            public java.time.Clock withZone(java.time.ZoneId z) { return this; }
            public java.time.Instant instant() { return now.get(); }
        };
        Sessions s = new Sessions(clock);
        String admin = s.create(Scope.ADMIN);
        for (int i = 0; i < Sessions.MAX + 50; i++) {
            now.set(now.get().plusMillis(1));
            s.create(Scope.of("vm"));
        }
        assertThat(s.lookup(admin)).as("one VM's logins do not log the admin out").contains(Scope.ADMIN);
        assertThat(s.size()).isEqualTo(Sessions.PER_SCOPE + 1);
        // Other VMs' logins fill the table: the scope with the most gives way, oldest first.
        for (int i = 0; i < Sessions.MAX - Sessions.PER_SCOPE - 1 + 10; i++) {
            now.set(now.get().plusMillis(1));
            s.create(Scope.of("vm" + i));
        }
        assertThat(s.size()).isEqualTo(Sessions.MAX);
        assertThat(s.lookup(admin)).as("the busiest scope made room").contains(Scope.ADMIN);
        String last = s.create(Scope.of("alpha"));
        assertThat(s.lookup(last)).contains(Scope.of("alpha"));
        now.set(now.get().plus(Sessions.LIFETIME));
        assertThat(s.lookup(last)).isEmpty();
    }

    @Test
    void onlyLoopbackUnlessAllowed() {
        assertThat(HttpAddress.parse("127.0.0.1:8090", false).port()).isEqualTo(8090);
        assertThat(HttpAddress.parse("8090", false).address().isLoopbackAddress()).isTrue();
        assertThat(HttpAddress.parse("[::1]:0", false).address().isLoopbackAddress()).isTrue();
        assertThat(HttpAddress.parse("localhost:1", false).address().isLoopbackAddress()).isTrue();
        assertThatThrownBy(() -> HttpAddress.parse("0.0.0.0:8090", false))
                .hasMessageContaining("not a loopback address").hasMessageContaining("--http-allow-remote")
                .hasMessageNotContaining("\n");
        assertThatThrownBy(() -> HttpAddress.parse("192.0.2.1:80", false)).hasMessageContaining("not a loopback");
        assertThat(HttpAddress.parse("0.0.0.0:8090", true).port()).isEqualTo(8090);
        assertThatThrownBy(() -> HttpAddress.parse("127.0.0.1:99999", false)).hasMessageContaining("port");
        assertThatThrownBy(() -> HttpAddress.parse("127.0.0.1", false)).hasMessageContaining("HOST:PORT");
        assertThatThrownBy(() -> HttpAddress.parse("", false)).hasMessageContaining("HOST:PORT");
    }
}
