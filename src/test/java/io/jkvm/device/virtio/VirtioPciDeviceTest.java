package io.jkvm.device.virtio;

import io.jkvm.device.msi.RecordingMsi;
import io.jkvm.device.pci.PciBar;
import io.jkvm.device.pci.PciConfigSpace;
import io.jkvm.device.virtio.pci.NotifyRegistrar;
import io.jkvm.device.virtio.pci.VirtioPciDevice;
import io.jkvm.device.virtio.pci.VirtioPciLayout;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static io.jkvm.device.virtio.DeviceStatus.ACKNOWLEDGE;
import static io.jkvm.device.virtio.DeviceStatus.DEVICE_NEEDS_RESET;
import static io.jkvm.device.virtio.DeviceStatus.DRIVER;
import static io.jkvm.device.virtio.DeviceStatus.DRIVER_OK;
import static io.jkvm.device.virtio.DeviceStatus.FEATURES_OK;
import static org.assertj.core.api.Assertions.assertThat;

class VirtioPciDeviceTest {
    private static final long V1 = VirtioFeatures.bit(VirtioFeatures.VERSION_1);
    private VirtioDriver drv = new VirtioDriver(new VirtioRng(new Random(1)));

    @AfterEach
    void close() {
        if (drv != null) {
            drv.close();
        }
    }

    @Test
    void identityCapabilitiesAndBar() {
        PciConfigSpace cs = drv.dev.config();
        assertThat(cs.read(PciConfigSpace.VENDOR_ID, 2)).isEqualTo(0x1af4);
        assertThat(cs.read(PciConfigSpace.DEVICE_ID, 2)).isEqualTo(0x1044);
        assertThat(cs.read(PciConfigSpace.REVISION_ID, 1)).isEqualTo(1);
        assertThat(cs.read(PciConfigSpace.SUBSYSTEM_VENDOR_ID, 2)).isEqualTo(0x1af4);
        assertThat(cs.read(PciConfigSpace.INTERRUPT_PIN, 1)).isEqualTo(1);
        assertThat(cs.read(PciConfigSpace.INTERRUPT_LINE, 1)).isEqualTo(11);
        assertThat(cs.bar(0)).contains(PciBar.memory64(0, VirtioPciLayout.BAR_SIZE, false));
        List<Integer> types = new ArrayList<>();
        int p = cs.read(PciConfigSpace.CAPABILITIES_POINTER, 1);
        while (p != 0) {
            if (cs.read(p, 1) == VirtioPciLayout.CAP_ID_VENDOR) {
                types.add(cs.read(p + 3, 1));
                if (cs.read(p + 3, 1) == VirtioPciLayout.CAP_NOTIFY) {
                    assertThat(cs.read(p + 16, 4)).as("notify_off_multiplier").isEqualTo(4);
                    assertThat(cs.read(p + 8, 4)).isEqualTo(VirtioPciLayout.NOTIFY_OFFSET);
                }
            }
            p = cs.read(p + 1, 1);
        }
        // rng has no device config: common, notify, isr, pci cfg.
        assertThat(types).containsExactly(1, 2, 3, 5);
        assertThat(cs.read(drv.msixCap() + 2, 2) & 0x7ff).as("table size - 1").isEqualTo(1);
        assertThat(drv.read(VirtioDriver.COMMON + 0x12, 2)).as("num_queues").isEqualTo(1);
    }

    @Test
    void featureNegotiation() {
        long offered = drv.deviceFeatures();
        assertThat(offered).isEqualTo(VirtioFeatures.TRANSPORT);
        assertThat(drv.negotiate(offered | VirtioFeatures.bit(5))).as("unoffered bit").isFalse();
        assertThat(drv.negotiate(VirtioFeatures.bit(VirtioFeatures.RING_EVENT_IDX))).as("no VERSION_1").isFalse();
        assertThat(drv.negotiate(V1 | VirtioFeatures.bit(VirtioFeatures.RING_INDIRECT_DESC))).isTrue();
        drv.writeDriverFeatures(offered);
        assertThat(drv.dev.driverFeatures()).as("frozen after FEATURES_OK").isEqualTo(V1 | VirtioFeatures.bit(28));
    }

    @Test
    void statusMachine() {
        drv.setStatus(ACKNOWLEDGE | DRIVER | DRIVER_OK);
        assertThat(drv.status() & DRIVER_OK).as("DRIVER_OK needs FEATURES_OK").isZero();
        assertThat(drv.negotiate(V1)).isTrue();
        drv.setStatus(ACKNOWLEDGE);
        assertThat(drv.status()).as("driver cannot clear bits").isEqualTo(ACKNOWLEDGE | DRIVER | FEATURES_OK);
        drv.setupQueue(0, 0x1000, 16, 0);
        drv.driverOk();
        drv.setStatus(0);
        assertThat(drv.status()).isZero();
        drv.write(VirtioDriver.COMMON + 0x16, 2, 0);
        assertThat(drv.read(VirtioDriver.COMMON + 0x1c, 2)).as("queue disabled by reset").isZero();
        assertThat(drv.read(VirtioDriver.COMMON + 0x18, 2)).as("size back to max").isEqualTo(VirtioRng.QUEUE_SIZE);
        assertThat(drv.dev.driverFeatures()).isZero();
    }

    @Test
    void queueRegisters() {
        drv.write(VirtioDriver.COMMON + 0x16, 2, 0);
        assertThat(drv.read(VirtioDriver.COMMON + 0x18, 2)).isEqualTo(256);
        drv.write(VirtioDriver.COMMON + 0x18, 2, 100);
        assertThat(drv.read(VirtioDriver.COMMON + 0x18, 2)).as("not a power of two").isEqualTo(256);
        drv.write(VirtioDriver.COMMON + 0x18, 2, 64);
        assertThat(drv.read(VirtioDriver.COMMON + 0x18, 2)).isEqualTo(64);
        drv.write(VirtioDriver.COMMON + 0x20, 4, 0x1234_5000L);
        drv.write(VirtioDriver.COMMON + 0x24, 4, 0x1);
        assertThat(drv.read(VirtioDriver.COMMON + 0x20, 8)).isEqualTo(0x1_1234_5000L);
        drv.write(VirtioDriver.COMMON + 0x1a, 2, 7);
        assertThat(drv.read(VirtioDriver.COMMON + 0x1a, 2)).as("vector beyond table").isEqualTo(VirtioPciDevice.NO_VECTOR);
        drv.write(VirtioDriver.COMMON + 0x10, 2, 1);
        assertThat(drv.read(VirtioDriver.COMMON + 0x10, 2)).isEqualTo(1);
        drv.write(VirtioDriver.COMMON + 0x16, 2, 5);
        assertThat(drv.read(VirtioDriver.COMMON + 0x18, 2)).as("absent queue has size 0").isZero();
        assertThat(drv.read(VirtioDriver.COMMON + 0x1e, 2)).isZero();
    }

    @Test
    void rngEndToEndWithMsix() {
        drv.enableMsix();
        assertThat(drv.negotiate(V1 | VirtioFeatures.bit(VirtioFeatures.RING_EVENT_IDX))).isTrue();
        DriverQueue dq = drv.setupQueue(0, 0x1000, 16, 0);
        drv.driverOk();
        dq.setDesc(0, 0x8000, 64, Virtqueue.F_WRITE, 0);
        dq.publish(0);
        drv.kick(0);
        drv.awaitUsed(dq, 1);
        assertThat(dq.usedElem(0)).containsExactly(0, 64);
        assertThat(drv.gm.memory.read(0x8000, 64)).isNotEqualTo(new byte[64]);
        VirtioDriver.await("MSI " + drv.msi.fired() + " status " + drv.status(), () -> drv.msi.fired().size() == 1);
        assertThat(drv.msi.fired().get(0)).isEqualTo(new RecordingMsi.Fired(0, 0xfee0_0000L, 0x40));
        assertThat(drv.intx.levels()).as("no INTx while MSI-X is on").isEmpty();
    }

    @Test
    void intxAndIsrWithoutMsix() {
        assertThat(drv.negotiate(V1)).isTrue();
        DriverQueue dq = drv.setupQueue(0, 0x1000, 16, VirtioPciDevice.NO_VECTOR);
        drv.driverOk();
        dq.setDesc(0, 0x8000, 8, Virtqueue.F_WRITE, 0);
        dq.publish(0);
        drv.kick(0);
        drv.awaitUsed(dq, 1);
        VirtioDriver.await("INTx", drv.intx::level);
        assertThat(drv.dev.config().status() & PciConfigSpace.STATUS_INTERRUPT).isNotZero();
        assertThat(drv.read(VirtioPciLayout.ISR_OFFSET, 1)).isEqualTo(VirtioPciDevice.ISR_QUEUE);
        assertThat(drv.intx.level()).as("ISR read deasserts").isFalse();
        assertThat(drv.read(VirtioPciLayout.ISR_OFFSET, 1)).isZero();
        assertThat(drv.msi.fired()).isEmpty();
    }

    @Test
    void maskedVectorsSetPendingBitsAndFireOnUnmask() {
        drv.enableMsix();
        assertThat(drv.negotiate(V1)).isTrue();
        DriverQueue dq = drv.setupQueue(0, 0x1000, 16, 0);
        drv.driverOk();
        long ctl0 = VirtioPciLayout.MSIX_TABLE_OFFSET + 12;
        drv.write(ctl0, 4, 1); // mask vector 0
        assertThat(drv.read(ctl0, 4)).isEqualTo(1);
        dq.setDesc(0, 0x8000, 8, Virtqueue.F_WRITE, 0);
        dq.publish(0);
        drv.kick(0);
        drv.awaitUsed(dq, 1);
        VirtioDriver.await("pending bit", () -> drv.read(VirtioPciLayout.MSIX_PBA_OFFSET, 8) == 1);
        assertThat(drv.msi.fired()).isEmpty();
        drv.write(ctl0, 4, 0);
        assertThat(drv.msi.fired()).hasSize(1);
        assertThat(drv.read(VirtioPciLayout.MSIX_PBA_OFFSET, 8)).isZero();

        // Function mask behaves the same way for every vector.
        int cap = drv.msixCap();
        drv.writeMsixControl(cap, 0xc000);
        dq.setDesc(1, 0x8000, 8, Virtqueue.F_WRITE, 0);
        dq.publish(1);
        drv.kick(0);
        drv.awaitUsed(dq, 2);
        VirtioDriver.await("pending bit", () -> drv.read(VirtioPciLayout.MSIX_PBA_OFFSET, 4) == 1);
        assertThat(drv.msi.fired()).hasSize(1);
        drv.writeMsixControl(cap, 0x8000);
        assertThat(drv.msi.fired()).hasSize(2);
    }

    @Test
    void corruptQueueSetsNeedsResetAndResetRecovers() {
        drv.enableMsix();
        assertThat(drv.negotiate(V1)).isTrue();
        drv.write(VirtioDriver.COMMON + 0x10, 2, 1); // config vector
        DriverQueue dq = drv.setupQueue(0, 0x1000, 16, 0);
        drv.driverOk();
        dq.setDesc(0, 0x8000, 8, Virtqueue.F_WRITE | Virtqueue.F_NEXT, 0); // self loop
        dq.publish(0);
        drv.kick(0);
        VirtioDriver.await("NEEDS_RESET", () -> (drv.status() & DEVICE_NEEDS_RESET) != 0);
        VirtioDriver.await("config interrupt", () -> drv.msi.fired().stream().anyMatch(f -> f.vector() == 1));
        assertThat(dq.usedIdx()).isZero();

        drv.gm.memory.fill(0x1000, 0x1000, (byte) 0);
        assertThat(drv.negotiate(V1)).isTrue();
        DriverQueue fresh = drv.setupQueue(0, 0x1000, 16, 0);
        drv.driverOk();
        fresh.setDesc(0, 0x8000, 8, Virtqueue.F_WRITE, 0);
        fresh.publish(0);
        drv.kick(0);
        drv.awaitUsed(fresh, 1);
        assertThat(drv.status() & DEVICE_NEEDS_RESET).isZero();
    }

    @Test
    void enablingAQueueWithRingsOutsideRamNeedsReset() {
        assertThat(drv.negotiate(V1)).isTrue();
        drv.setupQueue(0, 0x10_0000, 16, 0); // in the hole between RAM regions
        assertThat(drv.status() & DEVICE_NEEDS_RESET).isNotZero();
        drv.write(VirtioDriver.COMMON + 0x16, 2, 0);
        assertThat(drv.read(VirtioDriver.COMMON + 0x1c, 2)).isZero();
    }

    @Test
    void pciCfgCapabilityReachesTheBar() {
        assertThat(drv.negotiate(V1)).isTrue();
        int cap = findVendorCap(VirtioPciLayout.CAP_PCI_CFG);
        drv.dev.writeConfig((cap + 4) / 4, 0, 1, 0); // bar 0
        drv.dev.writeConfig((cap + 8) / 4, 0, 4, 0x14); // device_status
        drv.dev.writeConfig((cap + 12) / 4, 0, 4, 1);
        assertThat(drv.dev.readConfig((cap + 16) / 4) & 0xff).isEqualTo(ACKNOWLEDGE | DRIVER | FEATURES_OK);
        drv.dev.writeConfig((cap + 16) / 4, 0, 4, 0); // write 0 = reset, through config space
        assertThat(drv.status()).isZero();
    }

    private int findVendorCap(int type) {
        PciConfigSpace cs = drv.dev.config();
        int p = cs.read(PciConfigSpace.CAPABILITIES_POINTER, 1);
        while (p != 0) {
            if (cs.read(p, 1) == VirtioPciLayout.CAP_ID_VENDOR && cs.read(p + 3, 1) == type) {
                return p;
            }
            p = cs.read(p + 1, 1);
        }
        throw new AssertionError("no cap " + type);
    }

    @Test
    void barRemapMovesTheRegistrationAndNotifyBindings() {
        drv.close();
        List<Long> bound = new ArrayList<>();
        List<Long> unbound = new ArrayList<>();
        NotifyRegistrar rec = (address, length, fd) -> {
            bound.add(address);
            return () -> unbound.add(address);
        };
        drv = new VirtioDriver(new VirtioRng(new Random(2)), rec);
        assertThat(bound).containsExactly(VirtioDriver.BAR + VirtioPciLayout.NOTIFY_OFFSET);
        // Something else already lives at the new address: the BAR is left unmapped, no exception.
        drv.mmio.register(0xe000_0000L, 0x1000, new io.jkvm.device.BusDevice() {
            public long read(long o, int s) {
                return 0x55;
            }

            public void write(long o, int s, long v) {}
        });
        drv.dev.writeConfig(PciConfigSpace.BAR0 / 4, 0, 4, 0xe000_0000);
        assertThat(unbound).containsExactly(VirtioDriver.BAR + VirtioPciLayout.NOTIFY_OFFSET);
        assertThat(drv.mmio.read(0xe000_0000L + 0x12, 2)).as("other device still answers").isEqualTo(0x55);
        drv.dev.writeConfig(PciConfigSpace.BAR0 / 4, 0, 4, 0xe100_0000);
        assertThat(drv.mmio.read(0xe100_0000L + 0x12, 2)).as("num_queues at the new address").isEqualTo(1);
        assertThat(bound).last().isEqualTo(0xe100_0000L + VirtioPciLayout.NOTIFY_OFFSET);
        assertThat(drv.mmio.read(VirtioDriver.BAR + 0x12, 2)).as("old address unmapped").isEqualTo(0xffff);
    }

    @Test
    void closeReleasesVectors() {
        drv.dev.close();
        assertThat(drv.msi.closedCount()).isEqualTo(drv.msi.allocatedCount());
    }
}
