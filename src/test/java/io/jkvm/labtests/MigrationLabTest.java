package io.jkvm.labtests;

import io.jkvm.image.DefaultImage;
import io.jkvm.lab.Lab;
import io.jkvm.lab.LabResult;
import io.jkvm.migration.TestPki;
import io.jkvm.testing.JkvmCommand;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Lab: live migration of a Linux guest between two jkvm processes over loopback mutual TLS.
 * The guest loops: write a 2 MiB pattern into RAM (tmpfs) and verify it, print a tick on the
 * serial console, append the tick (synced) to a file on its virtio-blk ext4 root. {@code jkvm
 * migrate} moves it while it runs; the destination's console goes on from the next tick, no
 * pattern check fails on either side, the file on the disk is complete and in order, the source
 * VMM exits 0, and the report has the downtime. The destination is configured through its own
 * API (machine, boot-source, the same disk: same host) before the source connects. Before that, a
 * source with a certificate from another CA is refused, and a migration cancelled midway (to a
 * second destination, started with --trust-source-paths and no configuration, which then ends)
 * leaves the source running and counting.
 */
@Tag("lab")
class MigrationLabTest {
    private static Path kernel;
    private static Path initrd;

    @BeforeAll
    static void needsTheLab() throws IOException {
        LabGuests.assumeLab("mke2fs", "debugfs");
        kernel = DefaultImage.defaultKernel().orElseThrow();
        initrd = DefaultImage.ensure(kernel);
    }

    private static final String GUEST_INIT = """
            #!/bin/busybox sh
            /bin/busybox --install -s /bin
            export PATH=/bin
            mount -t tmpfs tmpfs /tmp
            i=0
            while true; do
              i=$((i+1))
              yes "pattern $i" | head -c 2097152 > /tmp/buf
              yes "pattern $i" | head -c 2097152 | cmp -s - /tmp/buf || echo "MISMATCH at tick $i"
              echo "tick $i end"
              echo "$i" >> /counter.txt
              sync
              sleep 1
            done
            """;

    private static String labScript(Path certs, Path disk, String jkvm) {
        String bootArgs = "console=ttyS0 reboot=k panic=1 root=/dev/vda rw init=/sbin/init";
        String srcTls = TestPki.flags(certs, "source");
        String dstTls = TestPki.flags(certs, "dest");
        // A node whose certificate another CA signed: both destinations must refuse it.
        String rogueTls = TestPki.flags(certs, "rogue");
        // No step has a time budget: each wait ends when its condition holds or the process it
        // waits for has died, and prints as the guests progress; a stuck step is ended by the
        // lab's no-output watchdog (LabGuests.NO_PROGRESS). Each VMM lives as long as the phase
        // that needs it, so a slow phase cannot use up a later one's time.
        return LabGuests.SHELL_LIB + String.join("\n",
                "set -u",
                "L=$(mktemp -d /dev/shm/jkvm-mig.XXXXXX)",
                LabGuests.API_CALL,
                "lasttick() { grep -ao 'tick [0-9]* end' $1 | tail -n 1 | cut -d' ' -f2; }",
                "migstatus() { curl -s -m 60 --unix-socket $S1 http://localhost/migrate | tr -d ' \\n'; }",
                "S1=$L/src.sock; S2=$L/dst.sock",
                jkvm + " run --api-sock $S1 --id src " + srcTls + " </dev/null > $L/s1.log 2> $L/v1.err &",
                "src=$!",
                "await '[ -S $S1 ]' $src 'grown $L/v1.err' || say no source api socket",
                "c $S1 PUT /machine-config '{\"vcpu_count\": 1, \"mem_size_mib\": 128}'",
                "c $S1 PUT /boot-source '{\"kernel_image_path\": \"" + kernel + "\", \"initrd_path\": \"" + initrd
                        + "\", \"boot_args\": \"" + bootArgs + "\"}'",
                "c $S1 PUT /drives/rootfs '{\"drive_id\": \"rootfs\", \"path_on_host\": \"" + disk
                        + "\", \"is_root_device\": true, \"is_read_only\": false}'",
                "c $S1 PUT /actions '{\"action_type\": \"InstanceStart\"}'",
                jkvm + " run --api-sock $S2 --id dst --incoming tcp:127.0.0.1:47011 " + dstTls
                        + " </dev/null > $L/s2.log 2> $L/v2.err &",
                "dst=$!",
                "await 'grep -qa migration_listening $L/v2.err' $dst 'grown $L/v2.err $L/s1.log' && say destination listening"
                        + " || say destination not listening",
                // The destination decides its own host resources: its machine, kernel and disk (the same image: same host).
                "await '[ -S $S2 ]' $dst 'grown $L/v2.err' || say no destination api socket",
                "c $S2 PUT /machine-config '{\"vcpu_count\": 1, \"mem_size_mib\": 128}'",
                "c $S2 PUT /boot-source '{\"kernel_image_path\": \"" + kernel + "\", \"initrd_path\": \"" + initrd
                        + "\", \"boot_args\": \"" + bootArgs + "\"}'",
                "c $S2 PUT /drives/rootfs '{\"drive_id\": \"rootfs\", \"path_on_host\": \"" + disk
                        + "\", \"is_root_device\": true, \"is_read_only\": false}'",
                "await 'grep -qa \"tick 3 end\" $L/s1.log' $src 'grown $L/s1.log' && say source counting || say source not counting",
                // Phase 1: a source with an untrusted certificate is refused; the VM goes on where it is.
                jkvm + " migrate --api-sock $S1 --to tcp:127.0.0.1:47011 " + rogueTls + " > $L/rogue.out 2>&1 &",
                "rogue=$!",
                "await '! kill -0 $rogue 2>/dev/null' $src 'grown $L/rogue.out $L/s1.log'; wait $rogue; echo \"@@rogue-status=$?\"",
                "head -n 3 $L/rogue.out | sed 's/^/@@rogue /'",
                "say rogue refused",
                // Phase 2: a migration cancelled midway (to a second destination, which then ends)
                // leaves the source running.
                jkvm + " run --api-sock $L/dsta.sock --id dsta --incoming tcp:127.0.0.1:47012"
                        + " --trust-source-paths " + dstTls
                        + " </dev/null > $L/sa.log 2> $L/va.err &",
                "dsta=$!",
                "await 'grep -qa migration_listening $L/va.err' $dsta 'grown $L/va.err $L/s1.log' || say abort destination not listening",
                "( " + jkvm + " migrate --api-sock $S1 --to tcp:127.0.0.1:47012 " + srcTls
                        + " > $L/abort.out 2>&1; echo \"@@abort-status=$?\" > $L/abort.rc ) &",
                "await 'migstatus | grep -Eq \"\\\"bytes\\\":[1-9][0-9]{6}\"' $src 'migstatus'"
                        + " && say migration to be cancelled is under way || say migration to cancel never started",
                "c $S1 PUT /migrate/cancel",
                "await '[ -s $L/abort.rc ]' $src 'migstatus'; cat $L/abort.rc",
                "grep -ao 'migration [a-z]* to tcp:127.0.0.1:47012' $L/abort.out | head -n 1 | sed 's/^/@@abort-report /'",
                "echo \"@@after-abort $(curl -s --unix-socket $S1 http://localhost/)\"",
                "n=$(lasttick $L/s1.log); await \"[ \\$(lasttick $L/s1.log) -ge $((n+2)) ]\" $src 'grown $L/s1.log'"
                        + " && echo '@@source-goes-on-after-abort'",
                // The abandoned destination ends by itself (its stream broke); it is not waited for beyond that.
                "await '! kill -0 $dsta 2>/dev/null' $src 'grown $L/va.err'; wait $dsta; echo \"@@abort-destination-exit=$?\"",
                // Phase 3: the migration.
                "say migrating",
                jkvm + " migrate --api-sock $S1 --to tcp:127.0.0.1:47011 " + srcTls + " > $L/mig.out 2>&1 &",
                "mig=$!",
                "await '! kill -0 $mig 2>/dev/null' $dst 'migstatus; grown $L/v2.err'; wait $mig",
                "echo \"@@migrate-status=$?\"",
                "say migrate returned",
                "sed 's/^/@@report /' $L/mig.out",
                "echo \"@@last-source=$(lasttick $L/s1.log)\"",
                "await '! kill -0 $src 2>/dev/null' $dst 'grown $L/v1.err $L/s2.log'; wait $src; echo \"@@source-exit=$?\"",
                "await '[ -n \"$(lasttick $L/s2.log)\" ] && [ $(lasttick $L/s2.log) -ge $(( $(lasttick $L/s1.log) + 3 )) ]' $dst"
                        + " 'grown $L/s2.log' && say destination counting || say destination not counting",
                "echo \"@@first-dest=$(grep -ao 'tick [0-9]* end' $L/s2.log | head -n 1 | cut -d' ' -f2)\"",
                "echo \"@@last-dest=$(lasttick $L/s2.log)\"",
                "echo \"@@dest-state $(curl -s --unix-socket $S2 http://localhost/)\"",
                "grep -ha MISMATCH $L/s1.log $L/s2.log | sed 's/^/@@bad /'",
                "c $S2 PATCH /vm '{\"state\": \"Paused\"}'",
                "kill -9 $dst; wait $dst 2>/dev/null",
                "say done",
                "{ echo '--- source serial, last lines:'; tail -n 5 $L/s1.log; echo '--- source stderr:'; tail -n 15 $L/v1.err;"
                        + " echo '--- destination serial:'; head -c 2000 $L/s2.log; echo '--- destination stderr:'; tail -n 15 $L/v2.err; } >&2",
                "rm -rf $L");
    }

    @Test
    void aRunningLinuxVmMigratesToAnotherVmmAndGoesOn(@TempDir Path dir) throws Exception {
        Path disk = LabGuests.ext4WithInit(dir, GUEST_INIT, "32M");
        Path certs = Files.createDirectories(dir.resolve("certs"));
        TestPki.create(certs);

        LabResult r = Lab.exec(List.of("bash", "-c", labScript(certs, disk, JkvmCommand.shell())),
                LabGuests.options());
        String out = r.stdout();
        String context = out + "\n--- stderr ---\n" + r.stderr();
        System.out.println(context);
        assertThat(r.labFailed()).as(r.error() + "\n" + context + "\n--- L1 console ---\n" + r.console()).isFalse();
        assertThat(out).as(context).contains("@@PUT /actions -> 204");
        assertThat(Pattern.compile("@@PUT /drives/rootfs -> 204").matcher(out).results().count())
                .as("the drive PUT on the source and on the destination; %s", context).isEqualTo(2);
        assertThat(Pattern.compile("@@PUT /boot-source -> 204").matcher(out).results().count()).as(context).isEqualTo(2);
        assertThat(out).as(context).containsPattern("@@rogue-status=[1-9]");
        assertThat(out).as(context).containsPattern("@@abort-status=[1-9]");
        assertThat(out).as(context).contains("@@abort-report migration cancelled to tcp:127.0.0.1:47012");
        assertThat(out).as(context).contains("@@after-abort {\"id\":\"src\",\"state\":\"Running\"");
        assertThat(out).as(context).contains("@@source-goes-on-after-abort");
        assertThat(out).as(context).containsPattern("@@abort-destination-exit=[1-9]");
        assertThat(out).as(context).contains("@@migrate-status=0");
        assertThat(out).as(context).contains("@@report migration completed to tcp:127.0.0.1:47011");
        assertThat(out).as(context).containsPattern("@@report +\"downtime_ms\" : \\d+");
        assertThat(out).as(context).contains("@@source-exit=0");
        assertThat(out).as(context).contains("@@dest-state {\"id\":\"dst\",\"state\":\"Running\"");
        assertThat(out).as(context).doesNotContain("@@bad ");
        int lastSource = number(out, "@@last-source");
        int firstDest = number(out, "@@first-dest");
        int lastDest = number(out, "@@last-dest");
        // The console goes on: the first complete line there is the next tick (or the one after,
        // if the pause cut that line).
        assertThat(firstDest).as(context).isBetween(lastSource + 1, lastSource + 2);
        assertThat(lastDest).as(context).isGreaterThanOrEqualTo(lastSource + 3);
        String counter = LabGuests.host("/sbin/debugfs", "-R", "cat /counter.txt", disk.toString());
        List<String> lines = counter.lines().filter(l -> l.matches("\\d+")).toList();
        assertThat(Integer.parseInt(lines.getLast())).as(counter).isGreaterThanOrEqualTo(lastSource + 2);
        for (int i = 0; i < lines.size(); i++) {
            assertThat(lines.get(i)).as("line %d of %s", i, counter).isEqualTo(String.valueOf(i + 1));
        }
    }

    private static int number(String out, String key) {
        Matcher m = Pattern.compile(Pattern.quote(key) + "=(\\d+)").matcher(out);
        assertThat(m.find()).as("%s in %s", key, out).isTrue();
        return Integer.parseInt(m.group(1));
    }

}
