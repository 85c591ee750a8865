package io.jkvm.config;

import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.VmConfigState;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The vsock configuration: its bounds, the CLI's {@code --vsock} and its place in the vm_config snapshot record. */
class VsockConfigTest {
    private static VmConfig vm(VsockConfig v) {
        return new VmConfig(Path.of("/boot/vmlinuz"), Optional.empty(), "console=ttyS0", 1, 64L << 20, OnReboot.EXIT, false,
                new DeviceConfig(List.of(), List.of(), false, false, v));
    }

    @Test
    void boundsOfTheCidAndThePath() {
        assertThat(new VsockConfig(3, Path.of("/run/v.sock")).guestCid()).isEqualTo(3);
        assertThatThrownBy(() -> new VsockConfig(2, Path.of("/run/v.sock"))).isInstanceOf(ConfigException.class);
        assertThatThrownBy(() -> new VsockConfig(1L << 32, Path.of("/run/v.sock"))).isInstanceOf(ConfigException.class);
        assertThatThrownBy(() -> new VsockConfig(3, Path.of("v.sock"))).isInstanceOf(ConfigException.class)
                .hasMessageContaining("absolute");
        assertThatThrownBy(() -> new VsockConfig(3, Path.of("/" + "x".repeat(100)))).isInstanceOf(ConfigException.class)
                .hasMessageContaining("longer");
    }

    @Test
    void theCliSpec() {
        assertThat(VsockConfig.parse("cid=5,uds=/run/v.sock")).isEqualTo(new VsockConfig(5, Path.of("/run/v.sock")));
        assertThat(VsockConfig.parse("uds=rel.sock,cid=3").udsPath()).isEqualTo(Path.of("rel.sock").toAbsolutePath());
        for (String bad : List.of("cid=3", "uds=/v.sock", "cid=x,uds=/v.sock", "cid=3,uds=", "cid=3,uds=/v,port=1",
                "cid=2,uds=/v.sock")) {
            assertThatThrownBy(() -> VsockConfig.parse(bad)).as(bad).isInstanceOf(ConfigException.class);
        }
    }

    @Test
    void theSnapshotRecordKeepsTheVsockAndReadsOlderRecordsWithout() {
        VmConfig with = vm(new VsockConfig(42, Path.of("/run/v.sock")));
        assertThat(VmConfigState.decode(VmConfigState.capture(with))).isEqualTo(with);
        VmConfig without = vm(null);
        DeviceState now = VmConfigState.capture(without);
        // A record written before vsock existed ends after the virtio-console flag: no vsock.
        DeviceState older = DeviceState.of(now.name(), Arrays.copyOf(now.bytes(), now.bytes().length - 1));
        assertThat(VmConfigState.decode(older)).isEqualTo(without);
    }

    @Test
    void liveMigrationOfAVsockVmIsRefusedByName() {
        assertThatThrownBy(() -> io.jkvm.migration.VmShape.of(vm(new VsockConfig(3, Path.of("/run/v.sock")))))
                .isInstanceOf(io.jkvm.migration.MigrationException.class).hasMessageContaining("vsock");
    }

    @Test
    void aRestoreKeepsTheCidButMayMoveTheSocket() {
        VmConfig saved = vm(new VsockConfig(42, Path.of("/run/a.sock")));
        assertThat(VmConfigState.incompatibility(saved, vm(new VsockConfig(42, Path.of("/run/b.sock"))))).isNull();
        assertThat(VmConfigState.incompatibility(saved, vm(new VsockConfig(43, Path.of("/run/a.sock"))))).contains("guest_cid");
        assertThat(VmConfigState.incompatibility(saved, vm(null))).contains("vsock");
    }
}
