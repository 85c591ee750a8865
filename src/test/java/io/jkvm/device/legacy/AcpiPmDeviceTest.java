package io.jkvm.device.legacy;

import static org.assertj.core.api.Assertions.assertThat;

import io.jkvm.arch.x86.Layout;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class AcpiPmDeviceTest {
    AtomicInteger powerOffs = new AtomicInteger();
    AtomicInteger resets = new AtomicInteger();
    AcpiPmDevice pm = new AcpiPmDevice(powerOffs::incrementAndGet, resets::incrementAndGet);

    static int sleepControl(int slpTyp, boolean slpEn) {
        return (slpTyp << 2) | (slpEn ? AcpiPmDevice.SLP_EN : 0);
    }

    @Test
    void s5WithSlpEnPowersOff() {
        pm.write(AcpiPmDevice.SLEEP_CONTROL, 1, sleepControl(Layout.ACPI_S5_SLP_TYP, true));
        assertThat(powerOffs.get()).isEqualTo(1);
        assertThat(resets.get()).isZero();
    }

    @Test
    void otherSleepTypesOrMissingSlpEnDoNothing() {
        pm.write(AcpiPmDevice.SLEEP_CONTROL, 1, sleepControl(Layout.ACPI_S5_SLP_TYP, false));
        pm.write(AcpiPmDevice.SLEEP_CONTROL, 1, sleepControl(3, true));
        pm.write(AcpiPmDevice.SLEEP_CONTROL, 1, sleepControl(0, true));
        assertThat(powerOffs.get()).isZero();
    }

    @Test
    void resetRegister() {
        pm.write(AcpiPmDevice.RESET, 1, 0x02);
        assertThat(resets.get()).isZero();
        pm.write(AcpiPmDevice.RESET, 1, Layout.ACPI_RESET_VALUE);
        assertThat(resets.get()).isEqualTo(1);
    }

    @Test
    void wideWritesAreSplitIntoRegisterBytes() {
        pm.write(AcpiPmDevice.SLEEP_STATUS, 2, Layout.ACPI_RESET_VALUE << 8);
        assertThat(resets.get()).isEqualTo(1);
        pm.write(AcpiPmDevice.RESET, 4, 0xffff_ff00L | Layout.ACPI_RESET_VALUE); // bytes past +2 ignored
        assertThat(resets.get()).isEqualTo(2);
    }

    @Test
    void readsAreZero() {
        assertThat(pm.read(AcpiPmDevice.SLEEP_CONTROL, 1)).isZero();
        assertThat(pm.read(AcpiPmDevice.SLEEP_STATUS, 1) & 0x80).as("WAK_STS").isZero();
        assertThat(pm.read(AcpiPmDevice.RESET, 1)).isZero();
    }

    @Test
    void throwingCallbackIsContained() {
        AcpiPmDevice bad = new AcpiPmDevice(() -> {
            throw new IllegalStateException("x");
        }, () -> {
            throw new IllegalStateException("y");
        });
        bad.write(AcpiPmDevice.SLEEP_CONTROL, 1, sleepControl(Layout.ACPI_S5_SLP_TYP, true));
        bad.write(AcpiPmDevice.RESET, 1, Layout.ACPI_RESET_VALUE);
        assertThat(bad.read(AcpiPmDevice.SLEEP_STATUS, 1)).isZero();
    }
}
