package io.jkvm.labtests;

import io.jkvm.image.DefaultImage;
import io.jkvm.lab.Lab;
import io.jkvm.lab.LabResult;
import io.jkvm.testing.JkvmCommand;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Lab: a Linux guest with two vCPUs and an ext4 root on virtio-blk counts, printing each number on the serial
 * console and appending it (synced) to a file on the disk. Over the API it is paused and
 * snapshotted, its VMM is killed, and a new VMM process loads the snapshot with resume_vm: the
 * count continues on the console from where it stopped and the file keeps growing. A copy of
 * the state file with one byte flipped is refused first, with a clear error, by the same VMM.
 * The first VMM puts its disk on virtio-mmio; the second, started with the default (PCI), restores
 * it on virtio-mmio, because a snapshot loads onto the transport it was made on.
 */
@LabClass
class SnapshotLabTest {
    private static Path kernel;
    private static Path initrd;

    @BeforeAll
    static void needsTheLab() throws IOException {
        LabGuests.assumeLab("mke2fs", "debugfs");
        kernel = DefaultImage.defaultKernel().orElseThrow();
        initrd = DefaultImage.ensure(kernel);
    }

    /** The guest: count once a second, to the console and (synced) to /counter.txt. */
    private static final String GUEST_INIT = """
            #!/bin/busybox sh
            /bin/busybox --install -s /bin
            export PATH=/bin
            echo "guest-cpus=$(grep -c ^processor /proc/cpuinfo) online"
            i=0
            while true; do
              i=$((i+1))
              echo "tick $i end"
              echo "$i" >> /counter.txt
              sync
              sleep 1
            done
            """;

    /**
     * Every wait is a poll on a condition that gives up when the VMM it waits for has died, with
     * no time budget: it prints as the guest progresses, and a stuck step is ended by the lab's
     * no-output watchdog (LabGuests.NO_PROGRESS). Sockets and snapshot files live on the lab
     * machine's tmpfs (sockets cannot be bound on 9p, and tmpfs is fast for the memory file).
     */
    private static String labScript(Path dir, Path disk, String jkvm) {
        String bootArgs = LabGuests.BOOT_ARGS + " root=/dev/vda rw init=/sbin/init";
        return LabGuests.SHELL_LIB + String.join("\n",
                "set -u",
                "D=" + dir,
                "L=$(mktemp -d /dev/shm/jkvm-snap.XXXXXX)",
                "c() { code=$(curl -s -m 600 --unix-socket $S -o $L/body -w '%{http_code}' -X \"$1\" \"http://localhost$2\""
                        + " -H 'Content-Type: application/json' ${3:+-d \"$3\"}); echo \"@@$1 $2 -> $code $(cat $L/body)\"; }",
                // Only complete lines count: a pause may cut one, whose rest then appears in the new VMM's output.
                "lasttick() { grep -ao 'tick [0-9]* end' $1 | tail -n 1 | cut -d' ' -f2; }",
                // First VMM: boot over the API, count a while, pause, snapshot, die.
                "S=$L/api1.sock",
                jkvm + " run --api-sock $S --snapshot-key $D/key --id snap1 --virtio-transport mmio </dev/null > $L/s1.log 2> $L/v1.err &",
                "vm=$!",
                "await '[ -S $S ]' $vm 'grown $L/v1.err' || say no api socket",
                "c PUT /machine-config '{\"vcpu_count\": 2, \"mem_size_mib\": 128}'",
                "c PUT /boot-source '{\"kernel_image_path\": \"" + kernel + "\", \"initrd_path\": \"" + initrd
                        + "\", \"boot_args\": \"" + bootArgs + "\"}'",
                "c PUT /drives/rootfs '{\"drive_id\": \"rootfs\", \"path_on_host\": \"" + disk
                        + "\", \"is_root_device\": true, \"is_read_only\": false}'",
                "c PUT /actions '{\"action_type\": \"InstanceStart\"}'",
                "await 'grep -qa \"tick 4\" $L/s1.log' $vm 'grown $L/s1.log' && say counting || say not counting",
                "echo \"@@$(grep -ao 'guest-cpus=[0-9]* online' $L/s1.log)\"",
                "c PUT /snapshot/create '{\"snapshot_type\": \"Full\", \"snapshot_path\": \"'$L'/vm.state\", \"mem_file_path\": \"'$L'/vm.mem\"}'",
                "c PATCH /vm '{\"state\": \"Paused\"}'",
                "c PUT /snapshot/create '{\"snapshot_type\": \"Diff\", \"snapshot_path\": \"'$L'/vm.state\", \"mem_file_path\": \"'$L'/vm.mem\"}'",
                "c PUT /snapshot/create '{\"snapshot_type\": \"Full\", \"snapshot_path\": \"'$L'/vm.state\", \"mem_file_path\": \"'$L'/vm.mem\"}'",
                "say snapshot taken",
                "echo \"@@state-after-create $(curl -s --unix-socket $S http://localhost/)\"",
                "echo \"@@last-before=$(lasttick $L/s1.log)\"",
                "kill -9 $vm; wait $vm 2>/dev/null",
                // A tampered copy: one byte of the state file flipped.
                "cp $L/vm.state $L/bad.state",
                "b=$(od -An -tu1 -j 200 -N 1 $L/bad.state | tr -d ' ')",
                "printf \"$(printf '\\\\%03o' $(( b ^ 1 )))\" | dd of=$L/bad.state bs=1 seek=200 conv=notrunc 2>/dev/null",
                "cmp -s $L/vm.state $L/bad.state && echo '@@tamper-failed'",
                // Second VMM: refuse the tampered state, then load the real one and resume.
                "S=$L/api2.sock",
                jkvm + " run --api-sock $S --snapshot-key $D/key --id snap2 </dev/null > $L/s2.log 2> $L/v2.err &",
                "vm=$!",
                "await '[ -S $S ]' $vm 'grown $L/v2.err' || say no api socket",
                "c PUT /snapshot/load '{\"snapshot_path\": \"'$L'/bad.state\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"'$L'/vm.mem\"}, \"resume_vm\": true}'",
                "c PUT /snapshot/load '{\"snapshot_path\": \"'$L'/vm.state\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"'$L'/vm.mem\"}, \"resume_vm\": true}'",
                "say snapshot loaded",
                "echo \"@@state-after-load $(curl -s --unix-socket $S http://localhost/)\"",
                "[ \"$code\" = 204 ] && await '[ -n \"$(lasttick $L/s2.log)\" ] && [ $(lasttick $L/s2.log) -ge $(( $(lasttick $L/s1.log) + 3 )) ]' $vm"
                        + " 'grown $L/s2.log' && say counting again || say not counting after load",
                "echo \"@@first-after=$(grep -ao 'tick [0-9]* end' $L/s2.log | head -n 1 | cut -d' ' -f2)\"",
                "echo \"@@last-after=$(lasttick $L/s2.log)\"",
                "c PATCH /vm '{\"state\": \"Paused\"}'",
                "kill -9 $vm; wait $vm 2>/dev/null",
                "say done",
                "{ echo '--- vmm 1 serial, last lines:'; tail -n 8 $L/s1.log; echo '--- vmm 1 stderr:'; tail -n 20 $L/v1.err;"
                        + " echo '--- vmm 2 serial:'; head -c 3000 $L/s2.log; echo '--- vmm 2 stderr:'; tail -n 20 $L/v2.err; } >&2",
                "rm -rf $L");
    }

    @Test
    void aSnapshottedLinuxVmContinuesCountingInANewVmmAndATamperedSnapshotIsRefused(@TempDir Path dir) throws Exception {
        Path disk = LabGuests.ext4WithInit(dir, GUEST_INIT, "32M");
        Path key = Files.createFile(dir.resolve("key"), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        byte[] k = new byte[32];
        new SecureRandom().nextBytes(k);
        Files.write(key, k);

        LabResult r = Lab.exec(List.of("bash", "-c", labScript(dir, disk, JkvmCommand.shell())),
                LabGuests.options());
        String out = r.stdout();
        String context = out + "\n--- stderr ---\n" + r.stderr();
        System.out.println(context);
        assertThat(r.labFailed()).as(r.error() + "\n" + context + "\n--- L1 console ---\n" + r.console()).isFalse();
        assertThat(out).as(context).contains("@@PUT /actions -> 204");
        assertThat(out).as(context).contains("@@guest-cpus=2 online");
        assertThat(out).as(context).contains("@@PUT /snapshot/create -> 400 {\"fault_message\":\"the microVM must be paused");
        assertThat(out).as(context).contains("@@PUT /snapshot/create -> 400 {\"fault_message\":\"snapshot_type 'Diff'");
        assertThat(out).as(context).contains("@@PUT /snapshot/create -> 204");
        assertThat(out).as(context).contains("\"state\":\"Paused\"");
        assertThat(out).as(context).doesNotContain("@@tamper-failed");
        assertThat(out).as(context).containsPattern("@@PUT /snapshot/load -> 400 \\{\"fault_message\":\"cannot load the snapshot: .*bad\\.state");
        assertThat(out).as(context).contains("@@PUT /snapshot/load -> 204");
        assertThat(out).as(context).contains("@@state-after-load {\"id\":\"snap2\",\"state\":\"Running\"");
        int before = LabGuests.number(out, "@@last-before");
        int firstAfter = LabGuests.number(out, "@@first-after");
        int lastAfter = LabGuests.number(out, "@@last-after");
        // The console continues where it stopped: the first complete line after the load is the next
        // number, or the one after it if the pause cut that line (its rest then starts the new output).
        assertThat(firstAfter).as(context).isBetween(before + 1, before + 2);
        assertThat(lastAfter).as(context).isGreaterThanOrEqualTo(before + 3);
        // The disk file kept growing past the snapshot point, through the restored virtio-blk.
        String counter = LabGuests.host("/sbin/debugfs", "-R", "cat /counter.txt", disk.toString());
        List<String> lines = counter.lines().filter(l -> l.matches("\\d+")).toList();
        assertThat(lines).as(counter).isNotEmpty();
        assertThat(Integer.parseInt(lines.getLast())).as(counter).isGreaterThanOrEqualTo(before + 2);
        for (int i = 0; i < lines.size(); i++) {
            assertThat(lines.get(i)).as("line %d of %s", i, counter).isEqualTo(String.valueOf(i + 1));
        }
    }

}
