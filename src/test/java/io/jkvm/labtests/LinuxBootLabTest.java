package io.jkvm.labtests;

import io.jkvm.config.VmConfig;
import io.jkvm.image.DefaultImage;
import io.jkvm.image.JkvmHome;
import io.jkvm.image.KernelVersion;
import io.jkvm.image.Vmlinux;
import io.jkvm.lab.Lab;
import io.jkvm.lab.LabResult;
import io.jkvm.testing.JkvmCommand;
import io.jkvm.testing.RecordingSink;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Lab: Debian's stock kernel boots under jkvm on real (nested) KVM. Each L1 boot costs seconds
 * of emulation, so one lab run covers the scripted checks and one covers the interactive ones.
 */
@LabClass
class LinuxBootLabTest {
    /** busybox ash's prompt for root in / (the default guest's shell). */
    private static final String PROMPT = "/ # ";
    private static Path kernel;
    private static Path initrd;
    /** The same kernel as an ELF vmlinux, booted through its PVH entry. */
    private static Path vmlinux;

    @BeforeAll
    static void needsTheLab() throws IOException {
        LabGuests.assumeLab();
        kernel = DefaultImage.defaultKernel().orElseThrow();
        initrd = DefaultImage.ensure(kernel);
        vmlinux = Vmlinux.ensure(kernel, JkvmHome.buildDir().resolve("lab/vmlinux-" + KernelVersion.of(kernel)))
                .orElse(null);
    }

    /**
     * Every boot has two vCPUs and the guest's RCU stall detector on: a vCPU that stops being run
     * is a failure to see, not noise (20 consecutive 2-vCPU systemd boots and power-offs in the
     * lab, tools/hang/boot-loop.sh, ran with it on and none hung). The first boot prints the
     * kernel's whole log, the others are {@code quiet} ({@link LabGuests}: each console byte costs
     * the lab an exit to the VMM).
     */
    private static String[] runArgs(Path kernel, String onReboot, String bootArgs) {
        return new String[] {"run", "--kernel", kernel.toString(), "--initrd", initrd.toString(), "--cpus", "2",
                "--memory", "512M", "--on-reboot", onReboot,
                "--cmdline", bootArgs};
    }

    @Test
    void bootsToUserspaceWithTwoCpusTheMemoryAndTheDatePowersOffAndRebootExits() throws IOException {
        String script = String.join("\n",
                JkvmCommand.shell(runArgs(kernel, "exit", VmConfig.DEFAULT_CMDLINE + " jkvm.demo")) + " </dev/null",
                "echo \"@@poweroff-exit=$?\"",
                JkvmCommand.shell(runArgs(kernel, "exit", LabGuests.BOOT_ARGS + " jkvm.reboot")) + " </dev/null",
                "echo \"@@reboot-exit=$?\"",
                vmlinux == null ? "echo '@@pvh-exit=skipped'"
                        : JkvmCommand.shell(runArgs(vmlinux, "exit", LabGuests.BOOT_ARGS + " jkvm.demo")) + " </dev/null",
                "echo \"@@pvh-exit=$?\"");
        Instant before = Instant.now();
        LabResult r = Lab.exec(List.of("sh", "-c", script), LabGuests.options());
        String out = r.stdout();
        assertThat(r.labFailed()).as(r.error() + "\n--- stdout ---\n" + r.stdout() + "\n--- stderr ---\n" + r.stderr() + "\n--- L1 console ---\n" + r.console()).isFalse();
        assertThat(out).contains("Run /init as init process").contains("jkvm-guest: up");
        Matcher facts = Pattern.compile("jkvm-guest: kernel=\\S+ cpus=(\\d+) mem_kb=(\\d+) date=(\\S+)").matcher(out);
        assertThat(facts.find()).as(out).isTrue();
        assertThat(Integer.parseInt(facts.group(1))).isEqualTo(2);
        // Every boot of the three (bzImage, reboot, PVH) brings both vCPUs up.
        assertThat(Pattern.compile("jkvm-guest: kernel=\\S+ cpus=(\\d+)").matcher(out).results().map(m -> m.group(1)))
                .as(out).hasSize(3).allMatch("2"::equals);
        // MemTotal is RAM minus what the kernel reserves for itself: about 512 MiB, never more.
        assertThat(Long.parseLong(facts.group(2))).isBetween(400L * 1024, 512L * 1024);
        Instant guestDate = Instant.parse(facts.group(3));
        assertThat(guestDate).isBetween(before.minusSeconds(120), Instant.now().plusSeconds(120));
        assertThat(out).contains("@@poweroff-exit=0");
        assertThat(r.stderr()).contains("guest powered off");
        assertThat(out).contains("@@reboot-exit=0");
        assertThat(r.stderr()).contains("guest rebooted");
        // ELF vmlinux through the PVH entry (32-bit protected mode start, hvm_start_info).
        assertThat(vmlinux).as("the kernel has an ELF payload with a PVH note").isNotNull();
        assertThat(out).contains("@@pvh-exit=0");
        assertThat(out.split("jkvm-guest: up", -1)).hasSize(4);
        assertThat(r.exitCode()).isZero();
    }

    @Test
    void typedInputReachesTheShellAndRebootRestartsWhenAskedTo() throws Exception {
        PipedOutputStream keyboard = new PipedOutputStream();
        PipedInputStream stdin = new PipedInputStream(keyboard, 4096);
        RecordingSink screen = new RecordingSink();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        // The lab runs on a thread of its own that a failed assertion interrupts (Lab.run then
        // stops L1), so a stuck guest does not keep a lab machine busy after the test has failed.
        CompletableFuture<LabResult> run = new CompletableFuture<>();
        Thread lab = Thread.ofPlatform().name("lab-run").start(() -> {
            try {
                run.complete(Lab.run(JkvmCommand.of(runArgs(kernel, "restart", LabGuests.BOOT_ARGS)), LabGuests.options(), stdin, screen, err));
            } catch (Throwable e) {
                run.completeExceptionally(e);
            } finally {
                screen.close();
            }
        });
        try {
            // Waits give up when the console has been silent this long (stuck), not after a total.
            Duration wait = LabGuests.NO_PROGRESS;
            // Type only once the shell shows its prompt, as a person would: bytes that arrive before the
            // shell owns the terminal are flushed when it sets the line discipline up.
            assertThat(screen.awaitContains(PROMPT, wait)).as(screen.text() + vmmErr(err)).isTrue();
            type(keyboard, "echo typed-$((6*7))\n");
            assertThat(screen.awaitContains("typed-42", wait)).as(screen.text() + vmmErr(err)).isTrue();
            type(keyboard, "reboot -f\n");
            assertThat(screen.awaitCount("jkvm-guest: up", 2, wait)).as(screen.text() + vmmErr(err)).isTrue();
            assertThat(screen.awaitCount(PROMPT, 3, wait)).as(screen.text() + vmmErr(err)).isTrue();
            type(keyboard, "poweroff -f\n");
            LabResult r = run.get();
            assertThat(r.exitCode()).as(err.toString(StandardCharsets.UTF_8) + r.error()).isZero();
            assertThat(err.toString(StandardCharsets.UTF_8)).contains("guest powered off");
        } finally {
            if (!run.isDone()) {
                lab.interrupt();
            }
            keyboard.close();
        }
    }

    /** The VMM's stderr so far, where its silent-console vCPU report lands. */
    private static String vmmErr(ByteArrayOutputStream err) {
        return "\n--- VMM stderr ---\n" + err.toString(StandardCharsets.UTF_8);
    }

    private static void type(PipedOutputStream keyboard, String text) throws IOException {
        keyboard.write(text.getBytes(StandardCharsets.US_ASCII));
        keyboard.flush();
    }

}
