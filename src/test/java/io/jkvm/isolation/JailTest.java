package io.jkvm.isolation;

import io.jkvm.api.UdsHttpClient;
import io.jkvm.daemon.VmConfinement;
import io.jkvm.image.JkvmHome;
import io.jkvm.kvm.Native;
import io.jkvm.testing.JkvmCommand;
import io.jkvm.testing.Patience;
import io.jkvm.testing.PidsCgroup;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code jkvm jailer} for real (root, no KVM needed: the VMM serves its API before a VM starts):
 * the VMM runs in the jail Firecracker's jailer would build, as the VM's user with no
 * capabilities and no_new_privs, in its cgroup, with an empty environment, and answers on the
 * API socket inside the jail. Both ways of starting it: exec (the jailer becomes the VMM) and a
 * new PID namespace (the VMM is its first process).
 */
class JailTest {
    private static final int VM_UID = 4343;
    private final String id = "jail-test-" + ProcessHandle.current().pid();
    private Path base;
    private PidsCgroup pids;
    private long vmmPid = -1;

    @BeforeEach
    void asRoot() throws IOException {
        Assumptions.assumeTrue(Native.geteuid() == 0, "the jailer makes namespaces, mounts and device nodes: root only");
        // Under target/ (the clone's own file system, not nodev), not /tmp, which in the lab is 9p.
        base = Files.createTempDirectory(Path.of("target").toAbsolutePath(), "jails-");
        pids = PidsCgroup.find().orElseThrow(() -> new IllegalStateException("this host mounts no pids cgroup hierarchy"));
    }

    @AfterEach
    void clean() throws Exception {
        JailCleanup.after(vmmPid, pids, id, base);
    }

    /** The jailer runs jkvm's own launcher only: it learns where jkvm is as bin/jkvm tells it, from JKVM_HOME. */
    static ProcessBuilder home(ProcessBuilder pb) {
        pb.environment().put("JKVM_HOME", JkvmHome.get().toString());
        return pb;
    }

    private List<String> jailer(String... extra) {
        List<String> args = new ArrayList<>(List.of("jailer", "--id", id, "--exec-file",
                JkvmHome.get().resolve("bin/firecracker").toString(), "--uid", String.valueOf(VM_UID), "--gid",
                String.valueOf(VM_UID), "--chroot-base-dir", base.toString(), "--cgroup-version", String.valueOf(pids.version()),
                "--cgroup", "pids.max=200"));
        args.addAll(List.of(extra));
        return JkvmCommand.ofOwnClassPath(args.toArray(String[]::new));
    }

    private Path root() {
        return base.resolve("firecracker").resolve(id).resolve("root");
    }

    @Test
    void withANewPidNamespaceTheVmmIsItsFirstProcessJailedAsTheVmsUser() throws Exception {
        Process jailer = home(new ProcessBuilder(jailer("--new-pid-ns", "--", "--api-sock", "/run/api.sock")))
                .redirectErrorStream(true).redirectOutput(base.resolve("out.log").toFile()).start();
        // The jailer returns once the VMM is spawned and its pid written.
        assertThat(jailer.waitFor(Patience.secondsOf(60), TimeUnit.SECONDS)).isTrue();
        assertThat(jailer.exitValue()).as(log()).isZero();
        vmmPid = pidFromFile();
        assertThat(vmmPid).isNotEqualTo(jailer.pid());
        assertThat(status()).contains("NSpid:\t" + vmmPid + "\t1"); // pid 1 of its own namespace
        assertThat(VmConfinement.of(vmmPid).ownNamespaces()).contains("mnt", "pid");
        assertJailed("/run/api.sock");
    }

    @Test
    void withoutOneTheJailerBecomesTheVmmDaemonized() throws Exception {
        Process jailer = home(new ProcessBuilder(jailer("--daemonize", "--resource-limit", "no-file=512", "--",
                "--api-sock", "/run/api.sock"))).redirectErrorStream(true).redirectOutput(base.resolve("out.log").toFile()).start();
        vmmPid = jailer.pid();
        assertJailed("/run/api.sock");
        assertThat(pidFromFile()).isEqualTo(jailer.pid()); // exec: same process
        String status = status();
        assertThat(status).contains("NSpid:\t" + vmmPid + "\n");
        assertThat(Files.readString(Path.of("/proc", String.valueOf(vmmPid), "stat")).split(" ")[5])
                .as("its own session").isEqualTo(String.valueOf(vmmPid));
        assertThat(Files.readString(Path.of("/proc", String.valueOf(vmmPid), "limits")))
                .containsPattern("Max open files +512 +512");
        assertThat(Files.readSymbolicLink(Path.of("/proc", String.valueOf(vmmPid), "fd", "1"))).isEqualTo(Path.of("/dev/null"));
    }

    @Test
    void aJailOnANodevFileSystemStillHasDeviceNodesThatOpen() throws Exception {
        // The base on a nodev tmpfs, mounted in a mount namespace of the jailer's own (util-linux
        // unshare, which execs sh, which execs the jailer, which execs the VMM: one process).
        Path nodev = Files.createDirectories(base.resolve("nodev"));
        List<String> cmd = new ArrayList<>(List.of("unshare", "-m", "--propagation", "private", "sh", "-c",
                "mount -t tmpfs -o nodev jkvm-test \"$0\" && exec \"$@\"", nodev.toString()));
        List<String> jailer = jailer("--", "--api-sock", "/run/api.sock");
        jailer.set(jailer.indexOf(base.toString()), nodev.toString());
        cmd.addAll(jailer);
        Process p = home(new ProcessBuilder(cmd)).redirectErrorStream(true).redirectOutput(base.resolve("out.log").toFile()).start();
        vmmPid = p.pid();
        assertJailed("/run/api.sock");
        String mounts = Files.readString(Path.of("/proc", String.valueOf(vmmPid), "mountinfo"));
        assertThat(mounts.lines().filter(l -> l.split(" ")[4].equals("/")).findFirst().orElseThrow()).contains("nodev");
        // The VMM opens its /dev/null: a node on a nodev file system would give EACCES.
        assertThat(Files.readString(Path.of("/proc", String.valueOf(vmmPid), "root", "dev", "null"))).isEmpty();
    }

    @Test
    void whatTheVmsUserCannotReadIsRefusedBeforeTheJailIsBuilt() throws Exception {
        Path secret = Files.writeString(base.resolve("root-only.jar"), "x");
        Files.setPosixFilePermissions(secret, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        Path closed = Files.createDirectories(base.resolve("closed"));
        Files.setPosixFilePermissions(closed, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-x---"));
        assertThat(Jail.unreadable(secret, VM_UID, VM_UID)).isEqualTo("mode 600, owner 0, group 0");
        assertThat(Jail.unreadable(closed, VM_UID, VM_UID)).isEqualTo("mode 750, owner 0, group 0");
        assertThat(Jail.unreadable(closed, VM_UID, 0)).isNull(); // the group's bits
        Files.setPosixFilePermissions(secret, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        assertThat(Jail.unreadable(secret, VM_UID, VM_UID)).isNull();

        // Through the command: a class path entry only root may read stops the jailer with one line.
        Files.setPosixFilePermissions(secret, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        List<String> cmd = jailer();
        int cp = cmd.indexOf("-cp") + 1;
        cmd.set(cp, cmd.get(cp) + java.io.File.pathSeparator + secret);
        Process p = home(new ProcessBuilder(cmd)).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(Patience.secondsOf(60), TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isEqualTo(2);
        assertThat(out.strip()).isEqualTo("jkvm: --uid " + VM_UID + ": the VMM needs " + secret + " in its jail, and the VM's"
                + " user cannot read it (mode 600, owner 0, group 0)");
        assertThat(root()).doesNotExist();
    }

    private void assertJailed(String socket) throws Exception {
        Path itsRoot = Path.of("/proc", String.valueOf(vmmPid), "root");
        Path sock = itsRoot.resolve(socket.substring(1)); // through its root: the jail may be in its mount namespace only
        try (UdsHttpClient api = awaitApi(sock)) {
            UdsHttpClient.Reply r = api.get("/", Patience.of(Duration.ofSeconds(30)));
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.body()).contains("\"id\":\"" + id + "\"");
        }
        String status = status();
        assertThat(status).contains("Uid:\t" + VM_UID + "\t" + VM_UID + "\t" + VM_UID + "\t" + VM_UID + "\n")
                .contains("Gid:\t" + VM_UID + "\t" + VM_UID + "\t" + VM_UID + "\t" + VM_UID + "\n")
                .contains("CapEff:\t0000000000000000").contains("CapPrm:\t0000000000000000").contains("NoNewPrivs:\t1");
        Path proc = Path.of("/proc", String.valueOf(vmmPid));
        // What jkvm vm show reports of a VMM, read the same way.
        VmConfinement confinement = VmConfinement.of(vmmPid);
        assertThat(confinement.uid()).isEqualTo(VM_UID);
        assertThat(confinement.noNewPrivs()).isTrue();
        assertThat(confinement.capabilities()).isEqualTo("0000000000000000");
        assertThat(confinement.ownNamespaces()).contains("mnt");
        assertThat(confinement.cgroups()).anyMatch(g -> pids.membership("firecracker", id).startsWith(":" + g)
                || pids.membership("firecracker", id).startsWith("0:" + g));
        assertThat(Files.readAllBytes(proc.resolve("environ"))).as("an empty environment").isEmpty();
        assertThat(Files.readString(proc.resolve("cgroup"))).contains(pids.membership("firecracker", id));
        assertThat(Files.readString(pids.dir("firecracker", id).resolve("pids.max")).strip()).isEqualTo("200");
        // Its root is the jail: what the jail holds, and nothing of the host's beyond it.
        assertThat(itsRoot.resolve("firecracker.pid")).exists();
        assertThat((Integer) Files.getAttribute(itsRoot.resolve("dev/kvm"), "unix:uid")).isEqualTo(VM_UID);
        assertThat((Integer) Files.getAttribute(itsRoot.resolve("dev/net/tun"), "unix:uid")).isEqualTo(VM_UID);
        assertThat(Files.readString(proc.resolve("mountinfo"))).as("its /dev is a tmpfs of its own")
                .containsPattern("(?m)^\\S+ \\S+ \\S+ / /dev \\S*nosuid\\S*noexec\\S* - tmpfs ");
        assertThat(itsRoot.resolve("etc")).doesNotExist();
        assertThat(itsRoot.resolve("home")).doesNotExist();
        assertThat(itsRoot.resolve("old_root")).doesNotExist();
        assertThat(Files.isWritable(itsRoot.resolve("usr"))).isFalse();
    }

    /** The socket appears when the VMM binds it; connecting is retried until it listens, within a bound. */
    private UdsHttpClient awaitApi(Path sock) throws Exception {
        long deadline = System.nanoTime() + Patience.of(Duration.ofSeconds(60)).toNanos();
        ProcessHandle vmm = ProcessHandle.of(vmmPid).orElseThrow();
        while (true) {
            assertThat(vmm.isAlive()).as("the VMM is alive; " + log()).isTrue();
            if (Files.exists(sock)) {
                try {
                    return new UdsHttpClient(sock);
                } catch (IOException notYetListening) {
                    // bound, not yet listening
                }
            }
            assertThat(System.nanoTime()).as("the API socket within the deadline; " + log()).isLessThan(deadline);
            vmm.onExit().completeOnTimeout(null, 50, TimeUnit.MILLISECONDS).join(); // wakes early if the VMM dies
        }
    }

    private long pidFromFile() throws IOException {
        return Long.parseLong(Files.readString(root().resolve("firecracker.pid"), StandardCharsets.US_ASCII).strip());
    }

    private String status() throws IOException {
        return Files.readString(Path.of("/proc", String.valueOf(vmmPid), "status"));
    }

    private String log() {
        try {
            return Files.readString(base.resolve("out.log"));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }
}
