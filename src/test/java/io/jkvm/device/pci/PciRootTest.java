package io.jkvm.device.pci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class PciRootTest {
    static PciDevice device(int deviceId) {
        PciConfigSpace cfg = new PciConfigSpace(new PciId(0x1af4, deviceId, 0x01_00_00));
        return () -> cfg;
    }

    @Test
    void hostBridgeAtSlotZero() {
        PciRoot root = new PciRoot();
        assertThat(root.readConfig(0, 0, 0, 0)).isEqualTo(PciHostBridge.DEVICE_ID << 16 | PciHostBridge.VENDOR_INTEL);
        assertThat(root.readConfig(0, 0, 0, 2) >>> 8).isEqualTo(0x06_00_00);
        assertThat(root.device(new PciRoot.Bdf(0, 0, 0))).containsInstanceOf(PciHostBridge.class);
        assertThat(new PciHostBridge().bars()).isEmpty();
    }

    @Test
    void slotsAreAssignedFromOne() {
        PciRoot root = new PciRoot();
        PciDevice a = device(0x1041);
        PciDevice b = device(0x1042);
        assertThat(root.add(a)).isEqualTo(1);
        root.add(3, device(0x1043));
        assertThat(root.add(b)).isEqualTo(2);
        assertThat(root.device(0, 2, 0)).containsSame(b);
        assertThat(root.devices().keySet()).extracting(PciRoot.Bdf::toString)
                .containsExactly("00:00.0", "00:01.0", "00:02.0", "00:03.0");
        assertThatThrownBy(() -> root.add(3, device(1))).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> root.add(32, device(1))).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void busIsFull() {
        PciRoot root = new PciRoot();
        for (int i = 1; i < 32; i++) {
            root.add(device(i));
        }
        assertThatThrownBy(() -> root.add(device(99))).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void absentFunctionsReadAllOnesAndIgnoreWrites() {
        PciRoot root = new PciRoot();
        root.add(device(0x1041));
        assertThat(root.readConfig(0, 5, 0, 0)).isEqualTo(PciRoot.ABSENT);
        assertThat(root.readConfig(0, 1, 1, 0)).isEqualTo(PciRoot.ABSENT);
        assertThat(root.readConfig(1, 1, 0, 0)).isEqualTo(PciRoot.ABSENT);
        assertThat(root.readConfig(0, 1, 0, 64)).isEqualTo(PciRoot.ABSENT);
        assertThat(root.readConfig(-1, -1, -1, -1)).isEqualTo(PciRoot.ABSENT);
        root.writeConfig(0, 5, 0, 1, 0, 2, 0xffff);
        root.writeConfig(0, 1, 0, 1, 3, 2, 0xffff); // straddles the dword: dropped
        assertThat(root.readConfig(0, 1, 0, 1) & 0xffff).isZero();
        root.writeConfig(0, 1, 0, 1, 0, 2, 0xffff);
        assertThat(root.readConfig(0, 1, 0, 1) & 0xffff).isEqualTo(0x0547);
    }

    @Test
    void resetResetsEveryDevice() {
        PciRoot root = new PciRoot();
        root.add(device(0x1041));
        root.writeConfig(0, 1, 0, 1, 0, 2, PciConfigSpace.COMMAND_BUS_MASTER);
        root.writeConfig(0, 0, 0, 1, 0, 2, PciConfigSpace.COMMAND_BUS_MASTER);
        root.reset();
        assertThat(root.readConfig(0, 1, 0, 1) & 0xffff).isZero();
        assertThat(root.readConfig(0, 0, 0, 1) & 0xffff).isZero();
    }
}
