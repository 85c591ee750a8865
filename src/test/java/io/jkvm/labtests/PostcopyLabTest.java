package io.jkvm.labtests;

import io.jkvm.image.DefaultImage;
import io.jkvm.lab.Lab;
import io.jkvm.lab.LabResult;
import io.jkvm.migration.TestPki;
import io.jkvm.testing.JkvmCommand;
import org.junit.jupiter.api.BeforeAll;
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
 * Lab: post-copy live migration of a running Linux guest that dirties memory faster than pre-copy
 * can send it. Two VMMs in the lab machine, the stream over loopback TLS; the root disk is a
 * read-only ext4 image both open (shared storage). The guest rewrites 8 MiB of tmpfs again and
 * again, each pass a new pattern checked after it is written, and once a second checks a 2 MiB
 * pattern and prints a tick. (It leaves the lab machine's CPUs some room: the migration's own
 * link runs in them, at a few MiB/s, and a guest that also ran flat out starved it. It still
 * dirties memory faster than that link carries it.)
 *
 * <p>{@code jkvm migrate --postcopy --max-downtime-ms 1}: pre-copy can never fit a 1 ms pause,
 * so it runs until a round fails to shrink and then switches: the destination starts at once and
 * fetches the chunks still dirty as the guest touches them. Checked: the migration completes
 * with post-copy (every chunk left behind fetched), no throttling, the source VMM exits 0, the
 * destination's console goes on from the next tick, and no pattern check fails on either side
 * (a chunk that arrived wrong or not at all would break the guest's own checks, or the guest).
 */
@LabClass
class PostcopyLabTest {
    private static Path kernel;
    private static Path initrd;

    @BeforeAll
    static void needsTheLab() throws IOException {
        LabGuests.assumeLab("mke2fs");
        kernel = DefaultImage.defaultKernel().orElseThrow();
        initrd = DefaultImage.ensure(kernel);
    }

    private static final String GUEST_INIT = """
            #!/bin/busybox sh
            /bin/busybox --install -s /bin
            export PATH=/bin
            mount -t proc proc /proc
            mount -t tmpfs -o size=24m tmpfs /tmp
            ( j=0
              while true; do
                j=$((j+1))
                yes "dirt $j" | head -c 8388608 > /tmp/dirt
                yes "dirt $j" | head -c 8388608 | cmp -s - /tmp/dirt || echo "MISMATCH in pass $j"
                sleep 1
              done ) &
            i=0
            while true; do
              i=$((i+1))
              yes "pattern $i" | head -c 2097152 > /tmp/buf
              yes "pattern $i" | head -c 2097152 | cmp -s - /tmp/buf || echo "MISMATCH at tick $i"
              echo "tick $i end"
              sleep 1
            done
            """;

    private static String labScript(Path certs, Path disk, String jkvm) {
        String bootArgs = LabGuests.BOOT_ARGS + " root=/dev/vda ro init=/sbin/init";
        String machine = "'{\"vcpu_count\": 1, \"mem_size_mib\": 96}'";
        String boot = "'{\"kernel_image_path\": \"" + kernel + "\", \"initrd_path\": \"" + initrd + "\", \"boot_args\": \""
                + bootArgs + "\"}'";
        String drive = "'{\"drive_id\": \"rootfs\", \"path_on_host\": \"" + disk
                + "\", \"is_root_device\": true, \"is_read_only\": true}'";
        return LabGuests.SHELL_LIB + String.join("\n",
                "set -u",
                "L=$(mktemp -d /dev/shm/jkvm-postcopy.XXXXXX)",
                LabGuests.API_CALL,
                "lasttick() { grep -ao 'tick [0-9]* end' $1 | tail -n 1 | cut -d' ' -f2; }",
                "S1=$L/src.sock",
                jkvm + " run --api-sock $S1 --id src " + TestPki.flags(certs, "source") + " </dev/null > $L/s1.log 2> $L/v1.err &",
                "src=$!",
                "await '[ -S $S1 ]' $src 'grown $L/v1.err' || say no source api socket",
                "c $S1 PUT /machine-config " + machine,
                "c $S1 PUT /boot-source " + boot,
                "c $S1 PUT /drives/rootfs " + drive,
                "c $S1 PUT /actions '{\"action_type\": \"InstanceStart\"}' > $L/start.out &",
                "starter=$!",
                "await '! kill -0 $starter 2>/dev/null' $src 'grown $L/s1.log $L/v1.err'; cat $L/start.out",
                "grep -q ' -> 204' $L/start.out || { say source refused to start; kill -9 $src; exit 1; }",
                "S2=$L/dst.sock",
                jkvm + " run --api-sock $S2 --id dst --incoming tcp:127.0.0.1:47012 " + TestPki.flags(certs, "dest")
                        + " </dev/null > $L/s2.log 2> $L/v2.err &",
                "dst=$!",
                "await 'grep -qa migration_listening $L/v2.err' $dst 'grown $L/v2.err $L/s1.log' || say destination not listening",
                "await '[ -S $S2 ]' $dst 'grown $L/v2.err' || say no destination api socket",
                "c $S2 PUT /machine-config " + machine,
                "c $S2 PUT /boot-source " + boot,
                "c $S2 PUT /drives/rootfs " + drive,
                "await '[ -n \"$(lasttick $L/s1.log)\" ] && [ $(lasttick $L/s1.log) -ge 3 ]' $src 'grown $L/s1.log'"
                        + " && say guest dirtying || say guest not ticking",
                "say migrating",
                jkvm + " migrate --api-sock $S1 --to tcp:127.0.0.1:47012 --postcopy --max-downtime-ms 1 "
                        + TestPki.flags(certs, "source") + " > $L/mig.out 2>&1 &",
                "mig=$!",
                "await '! kill -0 $mig 2>/dev/null' $dst 'grown $L/mig.out $L/v2.err'; wait $mig",
                "echo \"@@migrate-status=$?\"",
                "sed 's/^/@@report /' $L/mig.out",
                "echo \"@@last-source=$(lasttick $L/s1.log)\"",
                "await '! kill -0 $src 2>/dev/null' $dst 'grown $L/v1.err'; wait $src; echo \"@@source-exit=$?\"",
                "await '[ -n \"$(lasttick $L/s2.log)\" ] && [ $(lasttick $L/s2.log) -ge $(( $(lasttick $L/s1.log) + 3 )) ]' $dst"
                        + " 'grown $L/s2.log' && say destination counting || say destination not counting",
                "echo \"@@first-dest=$(grep -ao 'tick [0-9]* end' $L/s2.log | head -n 1 | cut -d' ' -f2)\"",
                "echo \"@@last-dest=$(lasttick $L/s2.log)\"",
                "grep -ha MISMATCH $L/s1.log $L/s2.log | sed 's/^/@@bad /'",
                "grep -hao '\"event\":\"migration_postcopy_[a-z]*\"' $L/v2.err | sed 's/^/@@dest-event /'",
                "echo \"@@dest-state $(curl -s --unix-socket $S2 http://localhost/)\"",
                "kill -9 $dst; wait $dst 2>/dev/null",
                "say done",
                "{ echo '--- source serial, last lines:'; tail -n 5 $L/s1.log; echo '--- source stderr:'; tail -n 15 $L/v1.err;"
                        + " echo '--- destination serial, last lines:'; tail -n 5 $L/s2.log; echo '--- destination stderr:';"
                        + " tail -n 15 $L/v2.err; } >&2",
                "rm -rf $L");
    }

    @Test
    void aGuestDirtyingFasterThanTheLinkMigratesWithPostcopy(@TempDir Path dir) throws Exception {
        Path disk = LabGuests.ext4WithInit(dir, GUEST_INIT, "16M");
        Path certs = Files.createDirectories(dir.resolve("certs"));
        TestPki.create(certs);

        LabResult r = Lab.exec(List.of("bash", "-c", labScript(certs, disk, JkvmCommand.shell())), LabGuests.options());
        String out = r.stdout();
        String context = out + "\n--- stderr ---\n" + r.stderr();
        System.out.println(context);
        assertThat(r.labFailed()).as(r.error() + "\n" + context + "\n--- L1 console ---\n" + r.console()).isFalse();
        assertThat(out).as(context).contains("@@PUT /actions -> 204");
        assertThat(out).as(context).contains("@@migrate-status=0");
        assertThat(out).as(context).contains("@@report migration completed to tcp:127.0.0.1:47012");
        Matcher pc = Pattern.compile("post-copy (\\d+) of (\\d+) chunks").matcher(out);
        assertThat(pc.find()).as("the migration switched to post-copy; %s", context).isTrue();
        assertThat(Integer.parseInt(pc.group(2))).as(context).isPositive();
        assertThat(pc.group(1)).as("every chunk left behind was fetched; %s", context).isEqualTo(pc.group(2));
        assertThat(out).as("post-copy instead of throttling; %s", context).contains("throttle 0%");
        assertThat(out).as(context).contains("@@dest-event \"event\":\"migration_postcopy_completed\"");
        assertThat(out).as(context).contains("@@source-exit=0");
        assertThat(out).as(context).contains("@@dest-state {\"id\":\"dst\",\"state\":\"Running\"");
        assertThat(out).as(context).doesNotContain("@@bad ");
        int lastSource = LabGuests.number(out, "@@last-source");
        assertThat(LabGuests.number(out, "@@first-dest")).as(context).isBetween(lastSource + 1, lastSource + 2);
        assertThat(LabGuests.number(out, "@@last-dest")).as(context).isGreaterThanOrEqualTo(lastSource + 3);
    }
}
