package io.jkvm.api;

import io.jkvm.config.VirtioTransport;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Unit: the transport a VMM was started with (jkvm run --virtio-transport; bin/firecracker's
 * virtio-mmio unless --enable-pci) is the one its API-configured guest boots with, and a guest
 * with more devices than virtio-mmio has interrupt lines for is refused at InstanceStart with a
 * 400 that names what counts, rather than booting with devices missing.
 */
class VirtioTransportApiTest {
    @TempDir
    Path dir;
    private RecordingController controller;
    private VmmController vmm;

    @BeforeEach
    void controller() throws IOException {
        controller = new RecordingController();
        vmm = controller.vmm;
        controller.bootSource(dir);
    }

    private void drives(int n) throws IOException {
        for (int i = 0; i < n; i++) {
            Path img = Files.write(dir.resolve("d" + i + ".img"), new byte[4096]);
            vmm.handle(ActionParser.parse("PUT", "/drives/d" + i, ("{\"drive_id\": \"d" + i + "\", \"path_on_host\": \""
                    + img + "\", \"is_root_device\": false, \"is_read_only\": true}").getBytes()));
        }
    }

    @Test
    void aVmmStartedWithoutAChoiceBootsItsGuestOnPci() throws IOException {
        drives(1);
        vmm.handle(new VmmAction.InstanceStart());
        assertThat(controller.launched.get().config().virtioTransport()).isEqualTo(VirtioTransport.PCI);
    }

    @Test
    void aVmmStartedOnMmioBootsItsGuestOnMmio() throws IOException {
        vmm.setVirtioTransport(VirtioTransport.MMIO);
        drives(11); // Kata's sandbox: a root drive and eight placeholders, a NIC and vsock (here all drives)
        vmm.handle(new VmmAction.InstanceStart());
        assertThat(controller.launched.get().config().virtioTransport()).isEqualTo(VirtioTransport.MMIO);
        assertThat(controller.launched.get().config().devices().count()).isEqualTo(11);
    }

    @Test
    void moreDevicesThanMmioHasLinesForIsA400AtInstanceStartNamingWhatCounts() throws IOException {
        vmm.setVirtioTransport(VirtioTransport.MMIO);
        drives(16);
        vmm.handle(ActionParser.parse("PUT", "/entropy", "{}".getBytes()));
        assertThatThrownBy(() -> vmm.handle(new VmmAction.InstanceStart()))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.kind()).isEqualTo(ApiException.Kind.BAD_REQUEST))
                .hasMessageContaining("drives, network-interfaces, entropy, vsock and balloon")
                .hasMessageContaining("17 virtio devices do not fit on virtio-mmio")
                .hasMessageContaining("--enable-pci");
        assertThat(controller.launched.get()).isNull();
    }
}
