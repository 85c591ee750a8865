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

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Lab: the MMDS as a Firecracker user sets it up. {@code jkvm firecracker} boots a
 * {@code --config-file} with a TAP-backed interface and an {@code mmds-config} section, the
 * store filled by {@code --metadata}; the guest (busybox) gives eth0 an address and, as
 * Firecracker's guide says, a route to 169.254.169.254 through it. Booted twice, as V1 and as V2:
 * the guest reads with {@code wget} (V1) and with raw HTTP through {@code nc} (busybox wget sends
 * no PUT), fetches a session token with {@code PUT /latest/api/token}, reads with it, sees a
 * bad token refused (V2) or ignored (V1), JSON on {@code Accept: application/json}, 404 for a
 * missing path, and finally the value the host changes at run time with {@code PATCH /mmds}.
 * Nothing leaves the lab machine; the MMDS's frames never reach the TAP.
 */
@LabClass
class MmdsLabTest {
    private static Path kernel;
    private static Path initrd;

    @BeforeAll
    static void needsTheLab() throws IOException {
        LabGuests.assumeLab("mke2fs");
        kernel = DefaultImage.defaultKernel().orElseThrow();
        initrd = DefaultImage.ensure(kernel);
    }

    /**
     * The guest. {@code raw METHOD PATH HEADERS} sends one request with nc and prints the
     * response: busybox nc half-closes the connection when its stdin ends and reads on until the
     * MMDS closes its side after the answer (Connection: close; MmdsStackTest covers the early FIN).
     * wget is bounded by {@code timeout}, not by its own {@code -T}: Debian's busybox before
     * 1.36.1-5 (bookworm's 1.35.0 included) is built without FEATURE_WGET_TIMEOUT, yet still
     * accepts {@code -T} and getopt32 stores its number through a NULL pointer, so
     * {@code wget -T 20} dies of SIGSEGV before it opens a socket (busybox issue #124).
     */
    private static final String GUEST_INIT = """
            #!/bin/busybox sh
            /bin/busybox --install -s /bin
            export PATH=/bin
            mount -t proc proc /proc 2>/dev/null
            ip link set lo up
            ip addr add 10.0.0.2/24 dev eth0
            ip link set eth0 up
            ip route add 169.254.169.254 dev eth0
            M=169.254.169.254
            raw() { printf "$1 $2 HTTP/1.1\\r\\nHost: $M\\r\\n$3Connection: close\\r\\n\\r\\n" | timeout 30 nc $M 80; }
            body() { tr -d '\\r' | sed '1,/^$/d'; }
            status() { head -n 1 | tr -d '\\r'; }
            echo "mmds-test: version=$(sed -n 's/.*mmdsver=\\([12]\\).*/\\1/p' /proc/cmdline)"
            echo "mmds-test: plain-status=$(raw GET /latest/meta-data/ami-id '' | status)"
            echo "mmds-test: plain-wget=$(timeout 20 wget -q -O - http://$M/latest/meta-data/ami-id 2>&1)"
            echo "mmds-test: listing=$(timeout 20 wget -q -O - http://$M/latest/meta-data/ 2>&1 | tr '\\n' ',')"
            tok=$(raw PUT /latest/api/token 'X-metadata-token-ttl-seconds: 60\\r\\n' | body)
            echo "mmds-test: token-length=${#tok}"
            H="X-metadata-token: $tok\\r\\n"
            echo "mmds-test: token-get=$(raw GET /latest/meta-data/ami-id "$H" | body)"
            echo "mmds-test: bad-token-status=$(raw GET /latest/meta-data/ami-id 'X-metadata-token: bogus\\r\\n' | status)"
            echo "mmds-test: json=$(raw GET /latest/meta-data/ami-id "${H}Accept: application/json\\r\\n" | body)"
            echo "mmds-test: missing-status=$(raw GET /latest/nothing "$H" | status)"
            echo "mmds-test: waiting for the patch"
            n=0; v=
            while [ $n -lt 120 ]; do
              v=$(raw GET /latest/meta-data/ami-id "$H" | body)
              [ "$v" = ami-patched ] && break
              n=$((n+1)); sleep 1
            done
            echo "mmds-test: patched=$v"
            # Stay up until the host has read the store after its PATCH (it then sets "done").
            n=0
            while [ $n -lt 120 ] && [ "$(raw GET /latest/meta-data/done "$H" | body)" != yes ]; do n=$((n+1)); sleep 1; done
            poweroff -f
            """;

    private static final String METADATA = """
            {"latest": {"meta-data": {"ami-id": "ami-12345678", "reservation-id": "r-fea54097",
              "network": {"interfaces": {"macs": {"06:00:ac:10:00:02": {"device-number": "0"}}}}}}}
            """;

    private static String vmJson(Path root, String version) {
        return """
                {"boot-source": {"kernel_image_path": "%s", "initrd_path": "%s",
                   "boot_args": "%s root=/dev/vda init=/sbin/init mmdsver=%s"},
                 "machine-config": {"vcpu_count": 2, "mem_size_mib": 256},
                 "drives": [{"drive_id": "root", "path_on_host": "%s", "is_root_device": true, "is_read_only": false}],
                 "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "jkvmt0", "guest_mac": "06:00:ac:10:00:02"}],
                 "mmds-config": {"version": "%s", "network_interfaces": ["eth0"]}}
                """.formatted(kernel, initrd, LabGuests.BOOT_ARGS, version.substring(1), root, version);
    }

    /**
     * The lab side: a TAP in L1 (which has no network of its own), then each VM in turn; the
     * PATCH waits for the guest's line saying it polls for it, and each wait ends when the VM
     * has exited (no time budget: the lab's no-output watchdog ends a stuck step).
     */
    private static String labScript(Path dir, String jkvm) {
        return LabGuests.SHELL_LIB + String.join("\n",
                "set -u",
                "D=" + dir,
                "L=$(mktemp -d /dev/shm/jkvm-mmds.XXXXXX)",
                "S=$L/api.sock",
                "awaitline() { await \"grep -qa '$1' $2\" $vm \"grown $2\"; }",
                "ip tuntap add dev jkvmt0 mode tap && ip link set jkvmt0 up",
                "for ver in V1 V2; do",
                "  rm -f $S",
                "  " + jkvm + " firecracker --api-sock $S --id mmds-lab --config-file $D/vm-$ver.json --metadata $D/meta.json"
                        + " </dev/null > $L/$ver.log 2>&1 &",
                "  vm=$!",
                "  awaitline 'mmds-test: waiting for the patch' $L/$ver.log && say $ver guest polls || say $ver guest never polled",
                // Before the PATCH: the guest polls until it sees the patch, then powers off, so a
                // request after the PATCH may find the VM (and its API socket) already gone.
                "  echo \"@@$ver-config $(curl -s -m 60 --unix-socket $S http://localhost/vm/config | grep -o '\"mmds-config\":{[^}]*}')\"",
                "  echo \"@@$ver-patch $(curl -s -m 60 --unix-socket $S -o /dev/null -w '%{http_code}' -X PATCH"
                        + " http://localhost/mmds -H 'Content-Type: application/json'"
                        + " -d '{\"latest\": {\"meta-data\": {\"ami-id\": \"ami-patched\", \"reservation-id\": null}}}')\"",
                "  echo \"@@$ver-get $(curl -s -m 60 --unix-socket $S http://localhost/mmds)\"",
                "  curl -s -m 60 --unix-socket $S -o /dev/null -X PATCH http://localhost/mmds -H 'Content-Type: application/json'"
                        + " -d '{\"latest\": {\"meta-data\": {\"done\": \"yes\"}}}'",
                "  wait $vm; echo \"@@$ver-exit=$?\"; say $ver vm exited",
                "  grep -a 'mmds-test:' $L/$ver.log | sed \"s/^/$ver /\"",
                "  { echo \"--- $ver vm, last lines:\"; tail -n 25 $L/$ver.log; } >&2",
                "done",
                "ip link del jkvmt0");
    }

    @Test
    void aGuestReadsTheMmdsWithV1AndWithV2TokensAndSeesARuntimePatch(@TempDir Path dir) throws Exception {
        Path root = LabGuests.ext4WithInit(dir, GUEST_INIT, "32M");
        java.nio.file.Files.writeString(dir.resolve("meta.json"), METADATA);
        for (String v : List.of("V1", "V2")) {
            java.nio.file.Files.writeString(dir.resolve("vm-" + v + ".json"), vmJson(root, v));
        }
        LabResult r = Lab.exec(List.of("bash", "-c", labScript(dir, JkvmCommand.shell())), LabGuests.options());
        String out = r.stdout();
        String context = out + "\n--- stderr ---\n" + r.stderr();
        System.out.println(context);
        assertThat(r.labFailed()).as(r.error() + "\n" + context + "\n--- L1 console ---\n" + r.console()).isFalse();
        for (String v : List.of("V1", "V2")) {
            assertThat(out).as(context).contains(v + " mmds-test: version=" + v.substring(1));
            assertThat(out).as(context).contains(v + " mmds-test: token-length=48");
            assertThat(out).as(context).contains(v + " mmds-test: token-get=ami-12345678");
            assertThat(out).as(context).contains(v + " mmds-test: json=\"ami-12345678\"");
            assertThat(out).as(context).contains(v + " mmds-test: missing-status=HTTP/1.1 404 Not Found");
            assertThat(out).as(context).contains(v + " mmds-test: patched=ami-patched");
            assertThat(out).as(context).contains("@@" + v + "-patch 204");
            assertThat(out).as(context).contains("@@" + v + "-get {\"latest\":{\"meta-data\":{\"ami-id\":\"ami-patched\",\"network\":");
            assertThat(out).as(context).contains("@@" + v + "-config \"mmds-config\":{\"version\":\"" + v
                    + "\",\"network_interfaces\":[\"eth0\"],\"ipv4_address\":\"169.254.169.254\",\"imds_compat\":false}");
            assertThat(out).as(context).contains("@@" + v + "-exit=0");
        }
        // V1: plain GETs; a token is optional and a bad one does not matter.
        assertThat(out).as(context).contains("V1 mmds-test: plain-status=HTTP/1.1 200 OK");
        assertThat(out).as(context).contains("V1 mmds-test: plain-wget=ami-12345678");
        assertThat(out).as(context).contains("V1 mmds-test: listing=ami-id,network/,reservation-id");
        assertThat(out).as(context).contains("V1 mmds-test: bad-token-status=HTTP/1.1 200 OK");
        // V2: nothing without a valid token.
        assertThat(out).as(context).contains("V2 mmds-test: plain-status=HTTP/1.1 401 Unauthorized");
        assertThat(out).as(context).containsPattern("V2 mmds-test: plain-wget=.*401");
        assertThat(out).as(context).contains("V2 mmds-test: bad-token-status=HTTP/1.1 401 Unauthorized");
    }
}
