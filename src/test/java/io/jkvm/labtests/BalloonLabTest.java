package io.jkvm.labtests;

import io.jkvm.image.DefaultImage;
import io.jkvm.lab.Lab;
import io.jkvm.lab.LabResult;
import io.jkvm.testing.JkvmCommand;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Lab: the memory balloon (virtio 1.2 §5.5) as a Firecracker user drives it. Debian's kernel with
 * the default initramfs (which loads virtio_balloon) boots through the API ({@code jkvm
 * firecracker}, virtio-mmio) with 256 MiB and a balloon with statistics every second. The guest
 * first fills and frees 160 MiB of tmpfs, so the VMM's RSS holds it; then {@code PATCH /balloon}
 * asks for 64 MiB: {@code GET /balloon/statistics} shows actual_mib reaching 64 and the guest's
 * statistics, the guest's MemTotal drops by 64 MiB (no deflate_on_oom: Linux takes inflated
 * pages off its managed count), and the VMM's RSS drops (inflated pages released with
 * MADV_REMOVE). Deflating to 0 gives the memory back; the statistics interval can change but
 * not turn off.
 */
@LabClass
class BalloonLabTest {
    private static Path kernel;
    private static Path initrd;

    @BeforeAll
    static void needsTheLab() throws IOException {
        LabGuests.assumeLab();
        kernel = DefaultImage.defaultKernel().orElseThrow();
        initrd = DefaultImage.ensure(kernel);
    }

    @Test
    void inflatingTheBalloonShrinksTheGuestAndTheVmmsRss() throws IOException {
        String jkvm = JkvmCommand.shell();
        String script = LabGuests.SHELL_LIB + """
                set -u
                D=$(mktemp -d /dev/shm/jkvm-balloon-lab.XXXXXX)
                S=$D/api.sock
                mkfifo $D/in
                %1$s firecracker --api-sock $S --id balloon-vm >$D/serial.out 2>$D/vmm.err <$D/in &
                P=$!
                exec 3>$D/in
                c() { code=$(curl -s -m 600 --unix-socket $S -o $D/body -w '%%{http_code}' -X "$1" "http://localhost$2" \
                        -H 'Content-Type: application/json' ${3:+-d "$3"}); echo "@@$1 $2 -> $code $(cat $D/body)"; }
                stats() { curl -s -m 60 --unix-socket $S http://localhost/balloon/statistics; }
                # The VMM's resident memory (KiB): bin/jkvm execs java, children counted in case.
                rss() { t=0; for p in $P $(cat /proc/$P/task/*/children 2>/dev/null); do
                  v=$(awk '/^VmRSS/ {print $2}' /proc/$p/status 2>/dev/null); t=$((t + ${v:-0})); done; echo $t; }
                # A guest command whose output lines start with @@NAME (sent to the guest's shell); the wait
                # skips the shell's echo of the command, whose "@@NAME /'" could start a wrapped line.
                g() { printf '%%s\\n' "$2 | sed 's/^/@@$1 /'" >&3; await "grep -q '^@@$1 [^/]' $D/serial.out" $P "grown $D/serial.out"; }
                if ! await '[ -S $S ]' $P 'grown $D/vmm.err'; then echo "@@no-socket"; cat $D/vmm.err; exit 1; fi
                c PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}'
                c PUT /boot-source '{"kernel_image_path": "%2$s", "initrd_path": "%3$s", "boot_args": "%4$s"}'
                c PUT /balloon '{"amount_mib": 0, "deflate_on_oom": false, "stats_polling_interval_s": 1}'
                c GET /balloon
                c PATCH /balloon '{"amount_mib": 64}'
                c PUT /actions '{"action_type": "InstanceStart"}'
                if ! await 'grep -q "/ # " $D/serial.out' $P 'grown $D/serial.out'; then
                  echo "@@vmm-exited before a shell"; tail -c 3000 $D/serial.out; cat $D/vmm.err; exit 1; fi
                g driver "ls /sys/bus/virtio/drivers/ | tr '\\n' ' '"
                # Touch 160 MiB of guest RAM, then free it: the host keeps it until the balloon takes it.
                g fill "mkdir -p /mnt/t && mount -t tmpfs -o size=200m none /mnt/t && dd if=/dev/zero of=/mnt/t/f bs=1M count=160 2>&1 | tail -n 1 && rm /mnt/t/f && echo filled"
                g mem0 "grep -E 'MemTotal|MemFree' /proc/meminfo | tr -s ' ' | tr '\\n' ' '"
                echo "@@rss-touched $(rss)"
                c PATCH /balloon '{"amount_mib": 64}'
                if await 'stats | grep -q "\\"actual_mib\\":64"' $P 'stats'; then echo "@@inflated"; fi
                # The guest's own statistics arrive on its next report (stats_polling_interval_s 1).
                await 'stats | grep -q total_memory' $P 'stats'
                echo "@@stats $(stats)"
                g mem1 "grep -E 'MemTotal|MemFree' /proc/meminfo | tr -s ' ' | tr '\\n' ' '"
                echo "@@rss-inflated $(rss)"
                c GET /balloon
                c PATCH /balloon/statistics '{"stats_polling_interval_s": 2}'
                c PATCH /balloon/statistics '{"stats_polling_interval_s": 0}'
                c PATCH /balloon '{"amount_mib": 0}'
                if await 'stats | grep -q "\\"actual_pages\\":0,"' $P 'stats'; then echo "@@deflated"; fi
                g mem2 "grep -E 'MemTotal' /proc/meminfo | tr -s ' '"
                kill $P; wait $P
                # The guest's answers (its console echoes the commands too: only lines that start with @@).
                tr -d '\\r' < $D/serial.out | grep -a '^@@'
                grep -i 'balloon' $D/serial.out | head -n 5
                cat $D/vmm.err >&2
                """.formatted(jkvm, kernel, initrd, LabGuests.BOOT_ARGS);
        LabResult r = Lab.exec(List.of("sh", "-c", script), LabGuests.options());
        String out = r.stdout();
        System.out.println(out);
        System.out.println(r.stderr());
        String evidence = r.error() + "\n--- stdout ---\n" + r.stdout() + "\n--- stderr ---\n" + r.stderr() + "\n--- L1 console ---\n" + r.console();
        assertThat(r.labFailed()).as(evidence).isFalse();
        assertThat(out).as(evidence).contains("@@PUT /balloon -> 204")
                .contains("@@GET /balloon -> 200 {\"amount_mib\":0,\"deflate_on_oom\":false,\"stats_polling_interval_s\":1");
        assertThat(out).as("PATCH before boot, as Firecracker")
                .contains("@@PATCH /balloon -> 400 {\"fault_message\":\"UpdateBalloon: The requested operation is not supported before starting the microVM.\"}");
        assertThat(out).as(evidence).containsPattern("@@driver .*virtio_balloon").contains("@@fill filled");
        assertThat(out).as(evidence).contains("@@PATCH /balloon -> 204").contains("@@inflated");
        assertThat(out).as(evidence).containsPattern("@@stats \\{\"target_pages\":16384,\"actual_pages\":16384,\"target_mib\":64,"
                + "\"actual_mib\":64,.*\"total_memory\":");
        long total0 = kib(out, "@@mem0 MemTotal: (\\d+) kB");
        long total1 = kib(out, "@@mem1 MemTotal: (\\d+) kB");
        assertThat(total0 - total1).as("the guest's MemTotal drop (KiB)").isBetween(60L * 1024, 68L * 1024);
        long rss0 = kib(out, "@@rss-touched (\\d+)");
        long rss1 = kib(out, "@@rss-inflated (\\d+)");
        assertThat(rss0 - rss1).as("the VMM's RSS drop (KiB): " + rss0 + " -> " + rss1).isGreaterThanOrEqualTo(32L * 1024);
        assertThat(out).contains("@@GET /balloon -> 200 {\"amount_mib\":64,");
        assertThat(out).contains("@@PATCH /balloon/statistics -> 204")
                .contains("@@PATCH /balloon/statistics -> 400 {\"fault_message\":");
        assertThat(out).as(evidence).contains("@@deflated");
        assertThat(kib(out, "@@mem2 MemTotal: (\\d+) kB")).as("deflated: MemTotal back").isEqualTo(total0);
    }

    private static long kib(String out, String regex) {
        Matcher m = Pattern.compile(regex).matcher(out);
        assertThat(m.find()).as(regex + " in\n" + out).isTrue();
        return Long.parseLong(m.group(1));
    }
}
