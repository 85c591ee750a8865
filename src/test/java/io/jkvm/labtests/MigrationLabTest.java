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
 * Lab: live migration of a running Linux guest between two "hosts", with its disk, its memory and a
 * TCP connection to it. Inside the lab machine, three network namespaces: {@code jna} and {@code jnb} are the hosts, each with a bridge
 * (its address 10.77.0.2 or .3) holding a TAP for its VMM; {@code jnw} is the wire between them, a
 * switch (bridge) joined to each host's bridge by a veth pair, and the client (10.77.0.1) sits on
 * it. Nothing leaves the lab machine. The guest (10.77.0.10) echoes what it receives on :5000; the
 * client streams numbered lines to it throughout the migration and keeps what comes back,
 * time-stamped. The migration stream itself crosses the wire, over mutual TLS, from the source
 * VMM in {@code jna} to the destination in {@code jnb}.
 *
 * <p>The guest also loops: write a 2 MiB pattern into RAM (tmpfs) and verify it, print a tick on
 * the serial console, append the tick (synced) to a file on its virtio-blk ext4 root. The
 * destination is configured through its own API (machine, boot-source, a TAP of its own, and a
 * disk of its own: an empty qcow2 image, because the hosts share no storage) before the source
 * connects; the source copies its raw disk into it while the guest runs ({@code --copy-drive}).
 *
 * <p>Checked: the migration completes and the source VMM exits 0; the connection stays up (the
 * client's nc ends only when it has sent everything and the guest closed), every byte comes back
 * once and in order (SHA-256 of what was sent and what was echoed), and the switch has learned the
 * guest's MAC on the new host's port; the destination's console goes on from the next tick, no
 * pattern check fails on either side, and the file on the destination's disk (read by qemu-img and
 * debugfs) is complete and in order. The
 * longest gap between echoed lines is printed beside the migration's downtime. (A source with an
 * untrusted certificate, and a migration cancelled midway, are MigrationDirectTest's.)
 */
@LabClass
class MigrationLabTest {
    private static final String MAC = "52:54:00:77:00:10";
    private static Path kernel;
    private static Path initrd;

    @BeforeAll
    static void needsTheLab() throws IOException {
        LabGuests.assumeLab("mke2fs", "debugfs");
        kernel = DefaultImage.defaultKernel().orElseThrow();
        initrd = DefaultImage.ensure(kernel);
    }

    /**
     * The guest: its address, an echo server for one connection, and a tick a second: a RAM
     * pattern written and checked, the tick on the console and appended (synced) to its disk.
     */
    private static final String GUEST_INIT = """
            #!/bin/busybox sh
            /bin/busybox --install -s /bin
            export PATH=/bin
            mount -t tmpfs tmpfs /tmp
            ip link set lo up
            ip addr add 10.77.0.10/24 dev eth0
            ip link set eth0 up
            nc -l -p 5000 -e /bin/cat &
            echo "net-ready"
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

    /**
     * The client, run in the wire's namespace: numbered lines, 20 a second (pacing, as a chatty
     * application would send), until the stop file appears; what comes back is stamped with the
     * time it arrived ($EPOCHREALTIME: no process per line).
     */
    private static final String CLIENT = """
            L=$1
            gen() { i=0; while [ ! -e $L/stop ]; do i=$((i+1)); printf 'line %08d abcdefghijklmnopqrstuvwxyz0123456789\\n' $i; sleep 0.05; done; }
            stamp() { while IFS= read -r l; do printf '%s %s\\n' "$EPOCHREALTIME" "$l"; done; }
            gen | tee $L/sent | busybox nc 10.77.0.10 5000 | stamp > $L/recv
            echo "${PIPESTATUS[2]}" > $L/client.rc
            """;

    private static String labScript(Path certs, Path disk, Path destinationDisk, String jkvm) {
        String bootArgs = LabGuests.BOOT_ARGS + " root=/dev/vda rw init=/sbin/init";
        String srcTls = TestPki.flags(certs, "source");
        String dstTls = TestPki.flags(certs, "dest");
        return LabGuests.SHELL_LIB + String.join("\n",
                "set -u",
                "L=$(mktemp -d /dev/shm/jkvm-netmig.XXXXXX)",
                LabGuests.API_CALL,
                "lasttick() { grep -ao 'tick [0-9]* end' $1 | tail -n 1 | cut -d' ' -f2; }",
                "lines() { wc -l < $L/recv 2>/dev/null || echo 0; }",
                // The wire: a switch, with the client on it.
                "ip netns add jnw && ip netns add jna && ip netns add jnb || say cannot make network namespaces",
                "ip -n jnw link set lo up",
                "ip -n jnw link add brw type bridge && ip -n jnw addr add 10.77.0.1/24 dev brw && ip -n jnw link set brw up",
                // Each host: a bridge with its address, a cable to the switch, a TAP for its VMM.
                "n=2; for h in a b; do",
                "  ip -n jn$h link set lo up",
                "  ip -n jn$h link add br$h type bridge && ip -n jn$h addr add 10.77.0.$n/24 dev br$h",
                "  ip -n jn$h link add v$h type veth peer name vw$h netns jnw",
                "  ip -n jn$h link set v$h master br$h && ip -n jnw link set vw$h master brw",
                "  ip -n jn$h tuntap add dev jkvmt0 mode tap && ip -n jn$h link set jkvmt0 master br$h",
                "  for d in v$h jkvmt0 br$h; do ip -n jn$h link set $d up; done; ip -n jnw link set vw$h up",
                "  n=$((n+1))",
                "done",
                "ip -n jna addr; ip -n jnw link | grep -c 'master brw' | sed 's/^/@@switch-ports=/'",
                "S1=$L/src.sock",
                "ip netns exec jna " + jkvm + " run --api-sock $S1 --id src " + srcTls + " </dev/null > $L/s1.log 2> $L/v1.err &",
                "src=$!",
                "await '[ -S $S1 ]' $src 'grown $L/v1.err' || say no source api socket",
                "c $S1 PUT /machine-config '{\"vcpu_count\": 1, \"mem_size_mib\": 128}'",
                "c $S1 PUT /boot-source '{\"kernel_image_path\": \"" + kernel + "\", \"initrd_path\": \"" + initrd
                        + "\", \"boot_args\": \"" + bootArgs + "\"}'",
                "c $S1 PUT /drives/rootfs '{\"drive_id\": \"rootfs\", \"path_on_host\": \"" + disk
                        + "\", \"is_root_device\": true, \"is_read_only\": false}'",
                "c $S1 PUT /network-interfaces/eth0 '{\"iface_id\": \"eth0\", \"host_dev_name\": \"jkvmt0\", \"guest_mac\": \""
                        + MAC + "\"}'",
                // In the background, so the wait shows the guest's progress (the lab's watchdog
                // ends only a silent step; a boot in a slow lab machine is not one).
                "c $S1 PUT /actions '{\"action_type\": \"InstanceStart\"}' > $L/start.out &",
                "starter=$!",
                "await '! kill -0 $starter 2>/dev/null' $src 'grown $L/s1.log $L/v1.err'; cat $L/start.out",
                // The destination listens on host b's address; its own API gives it this host's
                // resources: its own disk (an empty qcow2 image the migration fills: the hosts
                // share no storage) and a TAP in its own namespace.
                "S2=$L/dst.sock",
                "ip netns exec jnb " + jkvm + " run --api-sock $S2 --id dst --incoming tcp:10.77.0.3:47011 " + dstTls
                        + " </dev/null > $L/s2.log 2> $L/v2.err &",
                "dst=$!",
                "await 'grep -qa migration_listening $L/v2.err' $dst 'grown $L/v2.err $L/s1.log' && say destination listening"
                        + " || say destination not listening",
                "await '[ -S $S2 ]' $dst 'grown $L/v2.err' || say no destination api socket",
                "c $S2 PUT /machine-config '{\"vcpu_count\": 1, \"mem_size_mib\": 128}'",
                "c $S2 PUT /boot-source '{\"kernel_image_path\": \"" + kernel + "\", \"initrd_path\": \"" + initrd
                        + "\", \"boot_args\": \"" + bootArgs + "\"}'",
                "c $S2 PUT /drives/rootfs '{\"drive_id\": \"rootfs\", \"path_on_host\": \"" + destinationDisk
                        + "\", \"is_root_device\": true, \"is_read_only\": false, \"format\": \"qcow2\"}'",
                "c $S2 PUT /network-interfaces/eth0 '{\"iface_id\": \"eth0\", \"host_dev_name\": \"jkvmt0\", \"guest_mac\": \""
                        + MAC + "\"}'",
                "await 'grep -qa net-ready $L/s1.log' $src 'grown $L/s1.log' && say guest serving || say guest not serving",
                "cat > $L/client.sh <<'CLIENT'\n" + CLIENT + "CLIENT",
                "ip netns exec jnw bash $L/client.sh $L &",
                "client=$!",
                "await '[ $(lines) -ge 20 ]' $client 'lines' && say echo flowing || say no echo",
                "echo \"@@lines-before=$(lines)\"",
                "bridge -n jnw fdb show dev vwa | grep -i " + MAC + " | sed 's/^/@@fdb-before /'",
                "say migrating",
                "ip netns exec jna " + jkvm + " migrate --api-sock $S1 --to tcp:10.77.0.3:47011 --copy-drive rootfs " + srcTls
                        + " > $L/mig.out 2>&1 &",
                "mig=$!",
                "await '! kill -0 $mig 2>/dev/null' $dst 'lines; grown $L/v2.err'; wait $mig",
                "echo \"@@migrate-status=$?\"",
                "sed 's/^/@@report /' $L/mig.out",
                "n=$(lines); echo \"@@lines-at-switch=$n\"",
                "echo \"@@last-source=$(lasttick $L/s1.log)\"",
                "await \"[ \\$(lines) -ge $((n+30)) ]\" $client 'lines' && say echo goes on after the migration"
                        + " || say echo stopped",
                "bridge -n jnw fdb show dev vwb | grep -i " + MAC + " | sed 's/^/@@fdb-after /'",
                "touch $L/stop",
                "await '[ -s $L/client.rc ]' $client 'lines'; wait $client",
                "echo \"@@client-nc-exit=$(cat $L/client.rc)\"",
                "echo \"@@sent-lines=$(wc -l < $L/sent) @@recv-lines=$(lines)\"",
                "echo \"@@sent-sha=$(sha256sum < $L/sent | cut -d' ' -f1)\"",
                "echo \"@@recv-sha=$(cut -d' ' -f2- $L/recv | sha256sum | cut -d' ' -f1)\"",
                "awk 'NR > 1 { g = ($1 - p) * 1000; if (g > m) m = g } { p = $1 } END { printf \"@@max-gap-ms=%d\\n\", m }' $L/recv",
                "echo \"@@dest-state $(curl -s --unix-socket $S2 http://localhost/)\"",
                "await '! kill -0 $src 2>/dev/null' $dst 'grown $L/v1.err'; wait $src; echo \"@@source-exit=$?\"",
                "await '[ -n \"$(lasttick $L/s2.log)\" ] && [ $(lasttick $L/s2.log) -ge $(( $(lasttick $L/s1.log) + 3 )) ]' $dst"
                        + " 'grown $L/s2.log' && say destination counting || say destination not counting",
                "echo \"@@first-dest=$(grep -ao 'tick [0-9]* end' $L/s2.log | head -n 1 | cut -d' ' -f2)\"",
                "echo \"@@last-dest=$(lasttick $L/s2.log)\"",
                "grep -ha MISMATCH $L/s1.log $L/s2.log | sed 's/^/@@bad /'",
                // Paused before it dies, so the file on the disk ends at a tick the guest synced.
                "c $S2 PATCH /vm '{\"state\": \"Paused\"}'",
                "kill -9 $dst; wait $dst 2>/dev/null",
                "say done",
                "{ echo '--- source serial, last lines:'; tail -n 5 $L/s1.log; echo '--- source stderr:'; tail -n 15 $L/v1.err;"
                        + " echo '--- destination serial, last lines:'; tail -n 5 $L/s2.log; echo '--- destination stderr:';"
                        + " tail -n 15 $L/v2.err; echo '--- received, last lines:'; tail -n 3 $L/recv; } >&2",
                "ip netns del jna; ip netns del jnb; ip netns del jnw",
                "rm -rf $L");
    }

    @Test
    void aRunningLinuxVmMigratesToAnotherHostWithItsDiskMemoryAndATcpStream(@TempDir Path dir) throws Exception {
        Path disk = LabGuests.ext4WithInit(dir, GUEST_INIT, "32M");
        Path destinationDisk = dir.resolve("destination.qcow2");
        io.jkvm.storage.ImageCreator.create(new io.jkvm.storage.ImageCreator.Request(destinationDisk,
                io.jkvm.storage.DiskFormat.QCOW2, Files.size(disk), null, null, 0, false));
        Path certs = Files.createDirectories(dir.resolve("certs"));
        TestPki.create(certs, "10.77.0.2", "10.77.0.3"); // the hosts' addresses on the wire

        LabResult r = Lab.exec(List.of("bash", "-c", labScript(certs, disk, destinationDisk, JkvmCommand.shell())),
                LabGuests.options());
        String out = r.stdout();
        String context = out + "\n--- stderr ---\n" + r.stderr();
        System.out.println(context);
        assertThat(r.labFailed()).as(r.error() + "\n" + context + "\n--- L1 console ---\n" + r.console()).isFalse();
        assertThat(out).as(context).contains("@@switch-ports=2");
        assertThat(Pattern.compile("@@PUT /network-interfaces/eth0 -> 204").matcher(out).results().count())
                .as("the interface PUT on the source and on the destination; %s", context).isEqualTo(2);
        assertThat(Pattern.compile("@@PUT /drives/rootfs -> 204").matcher(out).results().count()).as(context).isEqualTo(2);
        assertThat(Pattern.compile("@@PUT /boot-source -> 204").matcher(out).results().count()).as(context).isEqualTo(2);
        assertThat(out).as(context).contains("@@PUT /actions -> 204");
        assertThat(out).as(context).contains("@@fdb-before " + MAC);
        assertThat(out).as(context).contains("@@migrate-status=0");
        assertThat(out).as(context).contains("@@report migration completed to tcp:10.77.0.3:47011");
        assertThat(out).as(context).contains("echo goes on after the migration");
        assertThat(out).as("the switch learned the guest on host b's port; %s", context).contains("@@fdb-after " + MAC);
        assertThat(out).as(context).contains("@@client-nc-exit=0");
        assertThat(value(out, "@@recv-sha")).as("every byte echoed once, in order; %s", context)
                .isEqualTo(value(out, "@@sent-sha"));
        int atSwitch = LabGuests.number(out, "@@lines-at-switch");
        assertThat(LabGuests.number(out, "@@recv-lines")).as(context).isGreaterThanOrEqualTo(atSwitch + 30);
        assertThat(out).as(context).contains("@@dest-state {\"id\":\"dst\",\"state\":\"Running\"");
        assertThat(out).as(context).contains("@@source-exit=0");
        assertThat(out).as(context).doesNotContain("@@bad ");
        int lastSource = LabGuests.number(out, "@@last-source");
        int firstDest = LabGuests.number(out, "@@first-dest");
        int lastDest = LabGuests.number(out, "@@last-dest");
        // The console goes on: the first complete line there is the next tick (or the one after,
        // if the pause cut that line).
        assertThat(firstDest).as(context).isBetween(lastSource + 1, lastSource + 2);
        assertThat(lastDest).as(context).isGreaterThanOrEqualTo(lastSource + 3);
        assertThat(out).as("the disk's contents travelled with the VM; %s", context).containsPattern("disks [0-9.]+ MiB");
        // The destination's own disk now holds the file system, the counter synced there too.
        Path received = dir.resolve("received.raw");
        LabGuests.host("/usr/bin/qemu-img", "convert", "-f", "qcow2", "-O", "raw", destinationDisk.toString(), received.toString());
        String counter = LabGuests.host("/sbin/debugfs", "-R", "cat /counter.txt", received.toString());
        List<String> ticks = counter.lines().filter(l -> l.matches("\\d+")).toList();
        assertThat(Integer.parseInt(ticks.getLast())).as(counter).isGreaterThanOrEqualTo(lastSource + 2);
        for (int i = 0; i < ticks.size(); i++) {
            assertThat(ticks.get(i)).as("line %d of %s", i, counter).isEqualTo(String.valueOf(i + 1));
        }
        System.out.println("stall seen by the client: " + LabGuests.number(out, "@@max-gap-ms") + " ms; migration downtime: "
                + LabGuests.number(out, "\"downtime_ms\" : ") + " ms");
    }

    private static String value(String out, String key) {
        Matcher m = Pattern.compile(Pattern.quote(key) + "=([0-9a-f]{64})").matcher(out);
        assertThat(m.find()).as("%s in %s", key, out).isTrue();
        return m.group(1);
    }
}
