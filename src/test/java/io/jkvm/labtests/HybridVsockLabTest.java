package io.jkvm.labtests;

import io.jkvm.image.DefaultImage;
import io.jkvm.lab.Lab;
import io.jkvm.lab.LabResult;
import io.jkvm.testing.JkvmCommand;
import org.junit.jupiter.api.Assumptions;
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
 * Lab: virtio-vsock with Firecracker's hybrid host side, against the stock kernel's
 * vmw_vsock_virtio_transport. The guest runs socat (the host's Debian socat, copied into the
 * guest's root with the shared libraries ldd names: busybox has no vsock tool). Host to guest:
 * the host sends {@code CONNECT 1024\n} and 1 MiB on {@code uds_path}, gets {@code OK <port>},
 * and the guest's listener on port 1024 answers with the SHA-256 of what it received. Guest to
 * host: the guest connects to CID 2 port 5000 and sends 1 MiB, which arrives at the host's
 * listener on {@code <uds_path>_5000}. Both hashes are compared with the sender's. The disk and
 * the vsock device are on virtio-mmio, as Firecracker's, and the guest boots with {@code pci=off}
 * as Kata's Firecracker guests do.
 *
 * <p>The host client tries its CONNECT again while the guest's listener is not bound yet (the
 * guest cannot tell when socat listens; a CONNECT to a port nobody listens on is closed without
 * {@code OK}, as Firecracker's is), at most 30 times.
 *
 * <p>Named so that {@code -Dtest='Vsock*'} (the device's unit tests) does not pick up this lab run.
 */
@LabClass
class HybridVsockLabTest {
    private static final Path SOCAT = Path.of("/usr/bin/socat");
    private static Path kernel;
    private static Path initrd;

    @BeforeAll
    static void needsTheLab() throws IOException {
        LabGuests.assumeLab("mke2fs");
        Assumptions.assumeTrue(Files.isExecutable(SOCAT), "socat not installed (apt-get install socat)");
        kernel = DefaultImage.defaultKernel().orElseThrow();
        initrd = DefaultImage.ensure(kernel);
    }

    /** The guest: answer one connection on vsock port 1024 with the hash of its bytes, then send 1 MiB to the host. */
    private static final String GUEST_INIT = """
            #!/bin/busybox sh
            /bin/busybox --install -s /bin
            export PATH=/bin:/usr/bin
            mount -t proc proc /proc 2>/dev/null
            mount -t devtmpfs devtmpfs /dev 2>/dev/null
            socat VSOCK-LISTEN:1024 EXEC:/bin/sha256sum &
            echo "vsock-test: listening"
            wait
            echo "vsock-test: served"
            head -c 1048576 /dev/urandom > /tmp/out.bin
            echo "vsock-test: sent=$(sha256sum /tmp/out.bin | cut -d' ' -f1)"
            n=0
            until socat -u OPEN:/tmp/out.bin VSOCK-CONNECT:2:5000; do n=$((n+1)); [ $n -gt 30 ] && break; sleep 1; done
            echo "vsock-test: done"
            poweroff -f
            """;

    /**
     * The lab side. Unix sockets live on the lab machine's tmpfs (binding on the 9p-shared /tmp
     * fails). The waits are polls on a guest console line, ended by the VM's exit, never fixed
     * delays. socat -t bounds only how long the host client waits for the guest's answer after
     * its own half-close.
     */
    private static String labScript(Path dir, String vm) {
        return LabGuests.SHELL_LIB + String.join("\n",
                "set -u",
                "D=" + dir,
                "L=$(mktemp -d /dev/shm/jkvm-vsock.XXXXXX)",
                "U=$L/v.sock",
                "awaitline() { await \"grep -qa '$1' $2\" $vm \"grown $2\"; }",
                "head -c 1048576 /dev/urandom > $D/to-guest.bin",
                "echo \"lab: to-guest=$(sha256sum $D/to-guest.bin | cut -d' ' -f1)\"",
                "socat -u UNIX-LISTEN:${U}_5000 CREATE:$D/from-guest.bin &",
                "rx=$!",
                vm.replace("@UDS@", "'\"$U\"'") + " </dev/null > $L/vm.log 2>&1 &",
                "vm=$!",
                "awaitline 'vsock-test: listening' $L/vm.log && say guest listening || say guest not listening",
                // The guest prints its line when socat has started, not when it listens: a CONNECT
                // before that is refused (the VMM closes the connection without OK, as
                // Firecracker's does), so the client tries again, as Kata's agent clients do.
                "n=0; while :; do",
                "  { printf 'CONNECT 1024\\n'; cat $D/to-guest.bin; } | socat -t 120 - UNIX-CONNECT:$U > $L/reply.txt 2> $L/client.err",
                "  rc=$?; grep -q '^OK ' $L/reply.txt && break",
                "  n=$((n+1)); [ $n -ge 30 ] && break; kill -0 $vm 2>/dev/null || break",
                "  say connect refused, again; sleep 1",
                "done",
                "echo \"lab: client-exit=$rc attempts=$((n+1))\"",
                "grep -q '^OK ' $L/reply.txt || { say no OK, stopping the VM; cat $L/client.err; kill $vm $rx; }",
                "echo \"lab: reply-line=$(head -n 1 $L/reply.txt)\"",
                "echo \"lab: guest-got=$(sed -n 2p $L/reply.txt | cut -d' ' -f1)\"",
                "wait $vm; echo \"lab: vm-exit=$?\"; say vm exited",
                "wait $rx; echo \"lab: listener-exit=$?\"",
                "echo \"lab: from-guest=$(sha256sum $D/from-guest.bin | cut -d' ' -f1)\"",
                "grep -a 'vsock-test:' $L/vm.log",
                "{ echo '--- vm, last lines:'; tail -n 20 $L/vm.log; } >&2");
    }

    @Test
    void hostConnectReachesAGuestListenerAndAGuestConnectionReachesUdsUnderscorePort(@TempDir Path dir) throws Exception {
        Path tree = Files.createDirectories(dir.resolve("tree"));
        copyWithLibraries(SOCAT, tree);
        Path root = LabGuests.ext4WithInit(dir, GUEST_INIT, "96M");

        String vm = JkvmCommand.shell("run", "--kernel", kernel.toString(), "--initrd", initrd.toString(),
                "--memory", "256M", "--disk", "path=" + root, "--vsock", "cid=3,uds=@UDS@", "--virtio-transport", "mmio",
                "--cmdline", LabGuests.BOOT_ARGS + " pci=off root=/dev/vda init=/sbin/init");
        LabResult r = Lab.exec(List.of("bash", "-c", labScript(dir, vm)), LabGuests.options());
        String out = r.stdout();
        String context = out + "\n--- stderr ---\n" + r.stderr();
        System.out.println(context);
        assertThat(r.labFailed()).as(r.error() + "\n" + context + "\n--- L1 console ---\n" + r.console()).isFalse();
        assertThat(out).as(context).contains("vsock-test: listening");
        assertThat(out).as(context).containsPattern("lab: reply-line=OK \\d+");
        assertThat(value(out, "lab: guest-got")).as("host to guest: the guest hashed what the host sent\n" + context).isEqualTo(value(out, "lab: to-guest"));
        assertThat(value(out, "lab: from-guest")).as("guest to host via <uds>_5000\n" + context)
                .isEqualTo(value(out, "vsock-test: sent"));
        assertThat(out).as(context).contains("lab: vm-exit=0");
    }

    /** {@code binary} and every shared library {@code ldd} names for it, at the same paths under {@code tree}. */
    private static void copyWithLibraries(Path binary, Path tree) throws IOException, InterruptedException {
        copyInto(binary, tree);
        Matcher m = Pattern.compile("(/\\S+\\.so[.\\d]*)").matcher(LabGuests.host("ldd", binary.toString()));
        while (m.find()) {
            copyInto(Path.of(m.group(1)), tree);
        }
    }

    private static void copyInto(Path file, Path tree) throws IOException {
        Path to = tree.resolve(file.toString().substring(1));
        Files.createDirectories(to.getParent());
        if (!Files.exists(to)) {
            Files.copy(file, to); // follows symlinks: the library itself
            to.toFile().setExecutable(true);
        }
    }

    private static String value(String out, String key) {
        Matcher m = Pattern.compile(Pattern.quote(key) + "=([0-9a-f]{64})").matcher(out);
        assertThat(m.find()).as("%s in %s", key, out).isTrue();
        return m.group(1);
    }
}
