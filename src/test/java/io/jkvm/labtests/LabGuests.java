package io.jkvm.labtests;

import io.jkvm.config.VmConfig;
import io.jkvm.lab.Lab;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import io.jkvm.lab.LabOptions;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What the lab tests share: skipping visibly, lab options that watch progress instead of a time
 * budget, shell helpers for lab scripts, an ext4 root whose /sbin/init is a script, host commands.
 *
 * <p>Lab guests boot {@code quiet}: each byte on the serial console is a port write the VMM
 * handles, an exit from L2 through L1's KVM to the VMM's thread, ~2-2.5 ms each under the lab's
 * emulated CPU, and Linux 6.1 prints its boot log synchronously. Measured in one lab machine (2
 * CPUs, default initramfs, {@code jkvm.demo}, 2 vCPUs): the ~25 KB log of a verbose boot made it
 * 70-85 s from start to power-off, a quiet one 34-43 s (10 boots). {@code quiet} is loglevel 4:
 * warnings, RCU stalls, soft lockups, oopses and panics still print. LinuxBootLabTest's first
 * boot keeps the whole log.
 *
 * <p>Lab machines have one CPU. In 2-CPU lab machines 2-vCPU guests failed now and then with both
 * of the lab machine's CPUs in a soft lockup at once ({@code CPU#0 stuck for 45s! [kthreadd]},
 * {@code CPU#1 ... [rcu_preempt]}) or the whole machine silent: 5 of about 32 such boots (two CI
 * runs, two loops, timing runs). With one CPU (one TCG thread, no IPIs inside the lab machine)
 * LinuxBootLabTest's three boots ran 20 of 20 in a loop (tools/hang/boot-loop.sh --scenario
 * lbt), ~30% slower each (51 s against 39) but on one host core instead of ~1.4, so two such
 * machines side by side do more in the same time: lab classes run two at a time ({@link LabClass}).
 * Measured in a no-KVM run: all lab classes in ~1530 s of wall time, against 1852 s one at a time
 * in 2-CPU machines; each class took ~1.7x as long as alone (two TCG machines slow each other).
 */
public final class LabGuests {
    private LabGuests() {}

    /**
     * The kernel command line every lab guest starts from: the product's default and
     * {@code quiet}. Tests append their own arguments (root device, init, a scenario's flag).
     */
    public static final String BOOT_ARGS = VmConfig.DEFAULT_CMDLINE + " quiet";

    /**
     * How long a lab run may print nothing (the command's output and the lab machine's console
     * together) before it is called stuck. Lab scripts print as their guests progress, so this
     * bounds the longest silent step, not the run: a machine that runs the lab at half the speed
     * passes the same test, only later.
     */
    static final Duration NO_PROGRESS = Duration.ofMinutes(5);
    /** The backstop for a whole run, far beyond any test's need; stuck runs end at NO_PROGRESS. */
    static final Duration BACKSTOP = Duration.ofMinutes(60);

    /** Lab options for a test: a 1-CPU lab machine, the progress watchdog and the backstop, no budget. */
    public static LabOptions options() {
        LabOptions o = LabOptions.defaults().withTimeout(BACKSTOP).withIdleTimeout(NO_PROGRESS);
        return o.withMachine(o.memoryMib(), 1);
    }

    /**
     * Shell functions for lab scripts (POSIX sh). {@code say MSG} prints a progress line with the
     * seconds since the script started. {@code await COND PID [PROGRESS]} waits until the shell
     * condition COND holds and gives up (status 1) only when process PID has exited: it has no
     * time limit. While it waits it prints a line each time the PROGRESS command's output changes
     * (checked every 5 s; {@code grown FILE...} counts the bytes of files such as a guest's
     * console log), so the lab's no-output watchdog ({@link #NO_PROGRESS}) tells a slow run from
     * a stuck one. It also prints each hang report a VMM writes ({@code hang_reports}: the
     * SilentConsoleReporter's, after {@code jkvm.hang.report} seconds of console silence) to a
     * {@code *.err} or {@code *.log} file in the script's scratch directory ({@code $D} or
     * {@code $L}) once, when it appears: a guest that stays silent until the watchdog stops the
     * lab machine still shows each vCPU's state, which the scripts' own "cat vmm.err" on failure
     * never reaches then.
     */
    static final String SHELL_LIB = String.join("\n",
            "_lab_t0=$(date +%s)",
            "_lab_seen=",
            "say() { echo \"lab: [$(( $(date +%s) - _lab_t0 ))s] $*\"; }",
            "grown() { cat \"$@\" 2>/dev/null | wc -c; }",
            "hang_reports() {",
            "  for _f in ${D:+$D/*.err $D/*.log} ${L:+$L/*.err $L/*.log}; do",
            "    [ -f \"$_f\" ] || continue",
            "    _c=$(grep -ac 'has been silent for' \"$_f\" 2>/dev/null) || :",
            "    _s=$(printf '%s\\n' \"$_lab_seen\" | awk -v f=\"$_f\" '$2 == f {print $1}')",
            "    if [ \"${_c:-0}\" -gt \"${_s:-0}\" ]; then",
            "      awk -v n=\"${_s:-0}\" '/has been silent for/ {k++} k > n' \"$_f\" | head -n 300 \\",
            "        | sed \"s|^|lab: [$(( $(date +%s) - _lab_t0 ))s] $_f: |\"",
            "      _lab_seen=$(printf '%s\\n' \"$_lab_seen\" | awk -v f=\"$_f\" 'NF && $2 != f'; echo \"$_c $_f\")",
            "    fi",
            "  done",
            "}",
            "await() {",
            "  _cond=$1; _pid=$2; _progress=${3:-true}; _last=; _t=$(date +%s)",
            "  until eval \"$_cond\"; do",
            "    kill -0 \"$_pid\" 2>/dev/null || return 1",
            "    _now=$(date +%s)",
            "    if [ $((_now - _t)) -ge 5 ]; then",
            "      _t=$_now; hang_reports; _seen=$(eval \"$_progress\" 2>/dev/null)",
            "      if [ \"$_seen\" != \"$_last\" ]; then echo \"lab: [$((_now - _lab_t0))s] waiting for: $_cond (progress: $_seen)\"; _last=$_seen; fi",
            "    fi",
            "    sleep 0.2",
            "  done",
            "}",
            "");

    /**
     * {@code c SOCKET METHOD PATH [JSON]}: one call to a VMM's API, printed as {@code @@METHOD PATH
     * -> STATUS BODY}; needs {@code $L}, a scratch directory.
     */
    static final String API_CALL = "c() { code=$(curl -s -m 600 --unix-socket $1 -o $L/body -w '%{http_code}' -X \"$2\""
            + " \"http://localhost$3\" -H 'Content-Type: application/json' ${4:+-d \"$4\"}); echo \"@@$2 $3 -> $code $(cat $L/body)\"; }";

    /** Skips (with the reason) unless the lab runs here and every e2fsprogs tool named is installed. */
    static void assumeLab(String... e2fsprogs) {
        var reason = Lab.availability();
        io.jkvm.testing.TierSummary.say(reason.isEmpty() ? "lab: runs (real Linux on nested KVM in an emulated AMD-V machine)"
                : "lab: SKIPPED: " + reason.get());
        Assumptions.assumeTrue(reason.isEmpty(), () -> "lab tests skipped: " + reason.orElse(""));
        for (String tool : e2fsprogs) {
            Assumptions.assumeTrue(Files.isExecutable(Path.of("/sbin", tool)), "e2fsprogs (" + tool + ") not installed");
        }
    }

    /**
     * {@code dir/root.ext4} of {@code size} (mke2fs syntax): the host's static busybox as /bin/busybox
     * and {@code init} as /sbin/init, plus whatever {@code dir/tree} already holds.
     */
    static Path ext4WithInit(Path dir, String init, String size) throws IOException, InterruptedException {
        Path tree = Files.createDirectories(dir.resolve("tree"));
        for (String d : List.of("bin", "sbin", "dev", "proc", "sys", "run", "tmp")) {
            Files.createDirectories(tree.resolve(d));
        }
        Files.copy(Path.of("/bin/busybox"), tree.resolve("bin/busybox"));
        Path script = Files.writeString(tree.resolve("sbin/init"), init);
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path disk = dir.resolve("root.ext4");
        host("/sbin/mke2fs", "-q", "-F", "-t", "ext4", "-d", tree.toString(), disk.toString(), size);
        return disk;
    }

    /**
     * The number a lab script printed after {@code key} (as {@code key=N}, or {@code key N} where
     * the key ends in its own separator), asserting it is there.
     */
    static int number(String out, String key) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile(java.util.regex.Pattern.quote(key) + "=?(\\d+)").matcher(out);
        assertThat(m.find()).as("%s in %s", key, out).isTrue();
        return Integer.parseInt(m.group(1));
    }

    /** Runs a host command to completion (60 s at most), asserting success; returns its output. */
    static String host(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0).as(String.join(" ", cmd) + ": " + out).isTrue();
        return out;
    }
}
