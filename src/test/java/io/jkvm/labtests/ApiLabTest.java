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

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Lab: Debian's stock kernel configured and booted through the Firecracker-compatible API with
 * curl, as a Firecracker user would script it, with the VMM launched as Firecracker is
 * ({@code jkvm firecracker}, so its devices are on virtio-mmio, found through the DSDT), then
 * paused, resumed and sent Ctrl+Alt+Del; then
 * the same VM from a --config-file; a drive's image swapped after boot (PATCH /drives) is seen by
 * the guest. Before it come Kata's eight empty placeholder drives, so the swapped drive is the
 * ninth virtio-mmio device and interrupts on GSI 16. One L1 boot for all of it.
 */
@LabClass
class ApiLabTest {
    private static Path kernel;
    private static Path initrd;

    @BeforeAll
    static void needsTheLab() throws IOException {
        LabGuests.assumeLab();
        kernel = DefaultImage.defaultKernel().orElseThrow();
        initrd = DefaultImage.ensure(kernel);
    }

    /* Both VMs, the API's and the config file's after it in the same lab machine, have two vCPUs. */
    @Test
    void curlConfiguresBootsPausesResumesAndCtrlAltDelsLinuxAndTheConfigFileBootsItToo() throws IOException {
        String jkvm = JkvmCommand.shell();
        String script = LabGuests.SHELL_LIB + """
                set -u
                # Unix sockets cannot be bound on the 9p-shared /tmp (ENXIO): use the lab's own tmpfs.
                D=$(mktemp -d /dev/shm/jkvm-api-lab.XXXXXX)
                S=$D/api.sock
                # The guest's serial input comes from a FIFO this script writes commands into (fd 3).
                mkfifo $D/in
                # As Firecracker is launched: its command line, its default transport (virtio-mmio).
                %1$s firecracker --api-sock $S --id lab-vm >$D/serial.out 2>$D/vmm.err <$D/in &
                P=$!
                exec 3>$D/in
                # Two images for one drive: 1 MiB beginning OLDDISK, then 2 MiB beginning NEWDISK.
                { printf OLDDISK; head -c 1048569 /dev/zero; } > $D/old.img
                { printf NEWDISK; head -c 2097145 /dev/zero; } > $D/new.img
                # bounded TENTHS COND: only for a wait whose either outcome the test accepts.
                bounded() { i=0; while ! eval "$2" && [ $i -lt $1 ] && kill -0 $P 2>/dev/null; do sleep 0.1; i=$((i+1)); done; eval "$2"; }
                c() { code=$(curl -s -m 600 --unix-socket $S -o $D/body -w '%%{http_code}' -X "$1" "http://localhost$2" \
                        -H 'Content-Type: application/json' ${3:+-d "$3"}); echo "@@$1 $2 -> $code $(cat $D/body)"; }
                t0=$(date +%%s%%N)
                if await '[ -S $S ]' $P 'grown $D/vmm.err'; then echo "@@api-socket-ms $(( ($(date +%%s%%N) - t0) / 1000000 ))"; else
                  echo "@@no-socket"; cat $D/vmm.err; kill $P; exit 1; fi
                echo "@@state-before $(curl -s --unix-socket $S http://localhost/)"
                c PUT /machine-config '{"vcpu_count": 2, "mem_size_mib": 256}'
                c PUT /boot-source '{"kernel_image_path": "%2$s", "initrd_path": "%3$s", "boot_args": "%4$s"}'
                # Kata's sandbox: eight empty placeholder drives it patches later, so the scratch drive is the
                # ninth virtio-mmio device, on GSI 16 (past the ISA-range inputs).
                for i in 0 1 2 3 4 5 6 7; do : > $D/drive_$i.img
                  c PUT /drives/drive_$i "{\\"drive_id\\": \\"drive_$i\\", \\"path_on_host\\": \\"$D/drive_$i.img\\", \\"is_root_device\\": false}"; done
                c PUT /drives/scratch "{\\"drive_id\\": \\"scratch\\", \\"path_on_host\\": \\"$D/old.img\\", \\"is_root_device\\": false}"
                c PATCH /drives/scratch "{\\"drive_id\\": \\"scratch\\", \\"path_on_host\\": \\"$D/new.img\\"}"
                t0=$(date +%%s%%N)
                c PUT /actions '{"action_type": "InstanceStart"}'
                if await 'grep -q "jkvm-guest: up" $D/serial.out' $P 'grown $D/serial.out'; then echo "@@guest-up-ms $(( ($(date +%%s%%N) - t0) / 1000000 ))"; else
                  wait $P; echo "@@vmm-exited=$? before the guest was up; its console ends:"; tail -c 3000 $D/serial.out; echo; cat $D/vmm.err; fi
                await 'grep -q "/ # " $D/serial.out' $P 'grown $D/serial.out'
                c PUT /actions '{"action_type": "InstanceStart"}'
                # Firecracker's PATCH /drives after boot: a media change the guest sees (new size and data).
                # The guest finds the drive by its serial (the drive id), whichever vdX it became.
                vda() { printf '%%s\\n' "d=\\$(grep -l scratch /sys/block/vd*/serial | cut -d/ -f4); blockdev --flushbufs /dev/\\$d; echo \\"@@vda-$1 \\$(head -c 7 /dev/\\$d) \\$(cat /sys/block/\\$d/size) on \\$d\\"" >&3; }
                vda before
                await 'grep -q "@@vda-before [A-Z]" $D/serial.out' $P 'grown $D/serial.out'
                c PATCH /drives/scratch "{\\"drive_id\\": \\"scratch\\", \\"path_on_host\\": \\"$D/new.img\\"}"
                vda after
                await 'grep -q "@@vda-after NEWDISK" $D/serial.out' $P 'grown $D/serial.out'
                grep -a '@@vda-\\|new size' $D/serial.out | grep -v 'head -c'
                echo "@@vm-config-drive $(curl -s --unix-socket $S http://localhost/vm/config | grep -o '"path_on_host":"[^"]*new.img"')"
                c PATCH /vm '{"state": "Paused"}'
                echo "@@state-paused $(curl -s --unix-socket $S http://localhost/)"
                c PATCH /vm '{"state": "Resumed"}'
                echo "@@state-resumed $(curl -s --unix-socket $S http://localhost/)"
                c PUT /actions '{"action_type": "SendCtrlAltDel"}'
                # A guest whose keyboard driver did not bind ignores Ctrl+Alt+Del: both are accepted.
                if bounded 600 '! kill -0 $P 2>/dev/null'; then wait $P; echo "@@cad-exit=$?"; else echo "@@cad-ignored"; kill $P; wait $P; fi
                echo "@@i8042: $(grep -i 'i8042\\|serio' $D/serial.out | tr '\\n' '|')"
                cat $D/vmm.err >&2
                cat > $D/vm.json <<EOF
                {"boot-source": {"kernel_image_path": "%2$s", "initrd_path": "%3$s",
                                 "boot_args": "%4$s jkvm.demo"},
                 "machine-config": {"vcpu_count": 2, "mem_size_mib": 256}}
                EOF
                %1$s run --config-file $D/vm.json --no-api >$D/serial2.out 2>$D/err2 </dev/null
                echo "@@config-exit=$?"
                # The lab's /tmp is the host's over 9p, which cannot hold sockets: refused, naming it.
                %1$s run --api-sock /tmp/jkvm-api-lab-$$.sock >/dev/null 2>$D/err3 </dev/null
                echo "@@9p-exit=$? $(head -n 1 $D/err3)"
                grep 'jkvm-guest:' $D/serial2.out
                cat $D/err2 >&2
                """.formatted(jkvm, kernel, initrd, LabGuests.BOOT_ARGS);
        LabResult r = Lab.exec(List.of("sh", "-c", script), LabGuests.options());
        String out = r.stdout();
        System.out.println(out);
        System.out.println(r.stderr());
        String evidence = r.error() + "\n--- stdout ---\n" + r.stdout() + "\n--- stderr ---\n" + r.stderr() + "\n--- L1 console ---\n" + r.console();
        assertThat(r.labFailed()).as(evidence).isFalse();
        assertThat(out).as(evidence).contains("@@guest-up-ms");
        assertThat(out).contains("@@state-before {\"id\":\"lab-vm\",\"state\":\"Not started\"");
        assertThat(out).contains("@@PUT /machine-config -> 204").contains("@@PUT /boot-source -> 204");
        assertThat(out).contains("@@PUT /actions -> 204").contains("@@guest-up-ms");
        // Firecracker's sentence, after the name of the refused action.
        assertThat(out).contains("@@PUT /actions -> 400 {\"fault_message\":\"InstanceStart: The requested operation is not supported after starting the microVM.\"}");
        // PATCH /drives: refused before boot as in Firecracker; after it, the guest sees the new image.
        assertThat(out).contains("@@PATCH /drives/scratch -> 400 {\"fault_message\":\"UpdateDrive: The requested operation is not supported before starting the microVM.\"}");
        assertThat(out).contains("@@vda-before OLDDISK 2048").contains("@@PATCH /drives/scratch -> 204")
                .contains("@@vda-after NEWDISK 4096").containsPattern("@@vm-config-drive \"path_on_host\":\"[^\"]*/new\\.img\"");
        assertThat(out).contains("@@state-paused {\"id\":\"lab-vm\",\"state\":\"Paused\"");
        assertThat(out).contains("@@state-resumed {\"id\":\"lab-vm\",\"state\":\"Running\"");
        assertThat(out).containsAnyOf("@@cad-exit=0", "@@cad-ignored");
        assertThat(out).contains("@@config-exit=0").contains("jkvm-guest: kernel=");
        assertThat(out).containsPattern("@@9p-exit=2 jkvm: .*/tmp/jkvm-api-lab-\\d+\\.sock.* 9p file system, which cannot hold sockets");
    }
}
