package io.jkvm.cli;

import io.jkvm.isolation.LandlockMode;
import io.jkvm.isolation.SeccompMode;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** --seccomp, --landlock and Firecracker's --no-seccomp, checked before anything boots. */
class ConfinementFlagsTest {
    private static FirecrackerCommand firecracker(String... args) {
        FirecrackerCommand c = new FirecrackerCommand();
        new CommandLine(c).parseArgs(args);
        return c;
    }

    @Test
    void firecrackersNoSeccompIsSeccompOff() {
        assertThat(firecracker("--no-seccomp").confinement().seccomp()).isEqualTo(SeccompMode.OFF);
        assertThat(firecracker("--no-seccomp", "--seccomp", "off").confinement().seccomp()).isEqualTo(SeccompMode.OFF);
        assertThat(firecracker("--seccomp", "log", "--landlock", "off").confinement())
                .satisfies(c -> {
                    assertThat(c.seccomp()).isEqualTo(SeccompMode.LOG);
                    assertThat(c.landlock()).isEqualTo(LandlockMode.OFF);
                });
        assertThatThrownBy(() -> firecracker("--no-seccomp", "--seccomp", "on").confinement())
                .isInstanceOf(UserError.class).hasMessage("--no-seccomp and --seccomp on contradict each other");
    }

    @Test
    void theDefaultsAreSeccompOnAndLandlockAuto() {
        // This host has seccomp filters (the confinement probe tests rely on it too).
        assertThat(firecracker().confinement().seccomp()).isEqualTo(SeccompMode.ON);
        assertThat(firecracker().confinement().landlock()).isEqualTo(LandlockMode.AUTO);
    }

    @Test
    void aBadValueIsExitTwoWithOneLineNamingTheFlagBeforeAnyHostCheck(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Path kernel = java.nio.file.Files.write(dir.resolve("vmlinux"), new byte[] {0x7f, 'E', 'L', 'F'});
        for (String[] args : new String[][] {{"run", "--kernel", kernel.toString(), "--seccomp", "maybe"},
                {"run", "--api-sock", "/nonexistent/api.sock", "--landlock", "yes"},
                {"firecracker", "--api-sock", "/nonexistent/api.sock", "--landlock", "yes"}}) {
            StringWriter err = new StringWriter();
            CommandLine cl = Cli.commandLine();
            cl.setErr(new PrintWriter(err, true));
            int status = cl.execute(args);
            assertThat(status).as(err.toString()).isEqualTo(Cli.EXIT_USAGE);
            assertThat(err.toString().strip().lines()).as(err.toString()).hasSize(1);
            assertThat(err.toString()).containsAnyOf("--seccomp maybe: must be off, log or on", "--landlock yes: must be off, auto or on");
        }
    }
}
