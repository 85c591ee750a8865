package io.jkvm.labtests;

import io.jkvm.image.DefaultImage;
import io.jkvm.lab.Lab;
import io.jkvm.lab.LabResult;
import io.jkvm.testing.JkvmCommand;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Lab: virtio-net over a TAP device and virtio-console. Everything stays inside the lab
 * machine: the TAP device and its address (10.99.0.1) are created in L1, which has no network
 * of its own; the guest is 10.99.0.2. Data goes both ways over TCP and is compared by SHA-256;
 * ping works. Then a second VM runs its shell on hvc0.
 */
@LabClass
class NetConsoleLabTest {
    private static Path kernel;
    private static Path initrd;

    @BeforeAll
    static void needsTheLab() throws IOException {
        LabGuests.assumeLab("mke2fs");
        kernel = DefaultImage.defaultKernel().orElseThrow();
        initrd = DefaultImage.ensure(kernel);
    }

    /** The guest side: address, ping, receive a file on :5000, send one to the host's :5001. */
    private static final String GUEST_INIT = """
            #!/bin/busybox sh
            /bin/busybox --install -s /bin
            export PATH=/bin
            ip link set lo up
            ip addr add 10.99.0.2/24 dev eth0
            ip link set eth0 up
            if ping -c 3 -W 10 10.99.0.1 >/dev/null; then p=ok; else p=fail; fi
            echo "net-test: ping=$p"
            nc -l -p 5000 > /tmp/in.bin &
            echo "net-test: listening"
            wait
            echo "net-test: got=$(sha256sum /tmp/in.bin | cut -d' ' -f1)"
            head -c 1048576 /dev/urandom > /tmp/out.bin
            echo "net-test: sent=$(sha256sum /tmp/out.bin | cut -d' ' -f1)"
            n=0
            until nc 10.99.0.1 5001 < /tmp/out.bin; do n=$((n+1)); [ $n -gt 30 ] && break; sleep 1; done
            echo "net-test: done"
            poweroff -f
            """;

    /**
     * The lab side. The waits are polls on conditions (a line in the guest's console, a port
     * accepting connections), never fixed delays standing in for them; each gives up as soon as
     * the VM it waits for has exited and has no time budget (a stuck step is ended by the lab's
     * no-output watchdog, LabGuests.NO_PROGRESS). The receiver's stdin never ends: busybox nc
     * half-closes on stdin EOF, and the guest's nc would then quit before it had sent
     * everything. FIFOs live on the lab machine's tmpfs (not on 9p).
     */
    private static String labScript(Path dir, String netVm, String consoleVm) {
        return LabGuests.SHELL_LIB + String.join("\n",
                "set -u",
                "D=" + dir,
                "L=$(mktemp -d /dev/shm/jkvm-test.XXXXXX)",
                // awaitline PATTERN FILE: until FILE has PATTERN, or the VM ($vm) exits.
                "awaitline() { await \"grep -qa '$1' $2\" $vm \"grown $2\"; }",
                "ip tuntap add dev jkvmt0 mode tap && ip addr add 10.99.0.1/24 dev jkvmt0 && ip link set jkvmt0 up",
                "head -c 1048576 /dev/urandom > $D/to-guest.bin",
                "echo \"lab: to-guest=$(sha256sum $D/to-guest.bin | cut -d' ' -f1)\"",
                "mkfifo $L/hold",
                "busybox nc -l -p 5001 < $L/hold > $D/from-guest.bin &",
                "nc=$!",
                "exec 4> $L/hold",
                netVm + " </dev/null > $L/net.log 2>&1 &",
                "vm=$!",
                "awaitline 'net-test: listening' $L/net.log && say guest listening || say guest not listening",
                "until bash -c \"cat $D/to-guest.bin > /dev/tcp/10.99.0.2/5000\" 2>/dev/null;"
                        + " do kill -0 $vm 2>/dev/null || break; say retrying the send; sleep 1; done",
                "say sent to guest",
                "wait $vm; echo \"lab: net-vm-exit=$?\"; say net vm exited",
                // The receiver ends when the guest's side closes; its stdin stays open until then.
                "while kill -0 $nc 2>/dev/null; do sleep 0.2; done; exec 4>&-",
                "echo \"lab: from-guest=$(sha256sum $D/from-guest.bin | cut -d' ' -f1)\"",
                "grep -a 'net-test:' $L/net.log",
                // hvc0: the VM's stdin is a FIFO we write to once its shell prompt shows.
                "mkfifo $L/hvc.in",
                consoleVm + " < $L/hvc.in > $L/hvc.log 2>&1 &",
                "vm=$!",
                "exec 3> $L/hvc.in",
                "awaitline '/ # ' $L/hvc.log && say hvc shell prompt || say no hvc shell prompt",
                "echo 'echo hvc-$((6*7)) on $(tty)' >&3",
                "awaitline 'hvc-42 on' $L/hvc.log || say no answer on hvc0",
                "echo 'poweroff -f' >&3",
                "wait $vm; echo \"lab: hvc-vm-exit=$?\"; say hvc vm exited",
                "grep -a 'hvc-42 on' $L/hvc.log | tail -n 1",
                "[ -s $L/net.log ] && { echo '--- net vm, last lines:'; tail -n 15 $L/net.log; } >&2",
                "{ echo '--- hvc vm, last lines:'; tail -n 15 $L/hvc.log; } >&2");
    }

    @Test
    void tcpBothWaysAndPingOverTapAndAShellOnHvc0(@TempDir Path dir) throws Exception {
        Path root = LabGuests.ext4WithInit(dir, GUEST_INIT, "32M");

        String netVm = JkvmCommand.shell("run", "--kernel", kernel.toString(), "--initrd", initrd.toString(),
                "--memory", "256M", "--disk", "path=" + root, "--net", "tap=jkvmt0,mac=52:54:00:12:34:56",
                "--cmdline", LabGuests.BOOT_ARGS + " root=/dev/vda init=/sbin/init");
        String consoleVm = JkvmCommand.shell("run", "--kernel", kernel.toString(), "--initrd", initrd.toString(),
                "--memory", "256M", "--console", "virtio");
        LabResult r = Lab.exec(List.of("bash", "-c", labScript(dir, netVm, consoleVm)),
                LabGuests.options());
        String out = r.stdout();
        String context = out + "\n--- stderr ---\n" + r.stderr();
        System.out.println(context);
        assertThat(r.labFailed()).as(r.error() + "\n" + context + "\n--- L1 console ---\n" + r.console()).isFalse();
        assertThat(out).as(context).contains("net-test: ping=ok");
        assertThat(out).as(context).contains("lab: net-vm-exit=0");
        assertThat(value(out, "net-test: got")).as(context).isEqualTo(value(out, "lab: to-guest"));
        assertThat(value(out, "lab: from-guest")).as(context).isEqualTo(value(out, "net-test: sent"));
        assertThat(out).as(context).contains("hvc-42 on /dev/hvc0");
        assertThat(out).as(context).contains("lab: hvc-vm-exit=0");
    }

    private static String value(String out, String key) {
        Matcher m = Pattern.compile(Pattern.quote(key) + "=([0-9a-f]{64})").matcher(out);
        assertThat(m.find()).as("%s in %s", key, out).isTrue();
        return m.group(1);
    }
}
