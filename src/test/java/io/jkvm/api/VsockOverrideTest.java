package io.jkvm.api;

import io.jkvm.config.DeviceConfig;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VmConfig;
import io.jkvm.config.VsockConfig;
import io.jkvm.snapshot.SnapshotKey;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Firecracker's {@code vsock_override} in {@code PUT /snapshot/load}: the restored device's host socket. */
class VsockOverrideTest {
    @TempDir
    Path dir;

    private String body(String override) throws IOException {
        Path snap = Files.write(dir.resolve("vm.snap"), new byte[16]);
        Path mem = Files.write(dir.resolve("vm.mem"), new byte[16]);
        return "{\"snapshot_path\": \"" + snap + "\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"" + mem
                + "\"}" + (override == null ? "" : ", \"vsock_override\": " + override) + "}";
    }

    private static SnapshotLoadParams parse(String body) {
        return ((VmmAction.LoadSnapshot) ActionParser.parse("PUT", "/snapshot/load", body.getBytes())).params();
    }

    private static VmConfig vm(VsockConfig v) {
        return new VmConfig(Path.of("/k"), Optional.empty(), "console=ttyS0", 1, 64L << 20, OnReboot.EXIT, false,
                new DeviceConfig(List.of(), List.of(), false, false, v));
    }

    @Test
    void theOverrideReachesTheLoadRequestAndMovesOnlyTheSocket() throws IOException {
        SnapshotKey key = SnapshotKey.of(filled(32));
        SnapshotRequest r = SnapshotRequests.load(parse(body("{\"uds_path\": \"" + dir.resolve("new.sock") + "\"}")), key);
        assertThat(r.vsockUdsPath()).isEqualTo(dir.resolve("new.sock"));
        assertThat(SnapshotRequests.load(parse(body(null)), key).vsockUdsPath()).isNull();

        VmConfig saved = vm(new VsockConfig(9, Path.of("/run/old.sock")));
        assertThat(LinuxVmLauncher.withVsockOverride(saved, dir.resolve("new.sock")).devices().vsock())
                .isEqualTo(new VsockConfig(9, dir.resolve("new.sock")));
        assertThat(LinuxVmLauncher.withVsockOverride(saved, null)).isSameAs(saved);
    }

    @Test
    void badOverridesAreRefusedNamingTheField() throws IOException {
        for (String bad : List.of("{}", "{\"uds_path\": \"\"}", "{\"uds_path\": \"" + dir.resolve("none/x.sock") + "\"}")) {
            String b = body(bad);
            assertThatThrownBy(() -> SnapshotRequests.load(parse(b), null)).as(bad)
                    .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.field()).isEqualTo("vsock_override.uds_path"));
        }
        String unknown = body("{\"uds_path\": \"/tmp/x.sock\", \"cid\": 3}");
        assertThatThrownBy(() -> parse(unknown)).isInstanceOf(ApiException.class).hasMessageContaining("cid");
        assertThatThrownBy(() -> LinuxVmLauncher.withVsockOverride(vm(null), dir.resolve("x.sock")))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.field()).isEqualTo("vsock_override"))
                .hasMessageContaining("no vsock device");
    }

    @Test
    void theConfigurationShowsTheRestoredVsockWhereItListensNow() {
        VmConfiguration c = new VmConfiguration("t", new io.jkvm.config.HostLimits(4, 8L << 30), OnReboot.EXIT,
                new EventLog("test", new java.io.ByteArrayOutputStream(), null));
        c.restoredFrom(LinuxVmLauncher.withVsockOverride(vm(new VsockConfig(9, Path.of("/run/old.sock"))),
                dir.resolve("new.sock")), false);
        assertThat(c.full().vsock()).isEqualTo(new VsockDevice(9L, dir.resolve("new.sock").toString(), null));
    }

    private static byte[] filled(int n) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) 7);
        return b;
    }
}
