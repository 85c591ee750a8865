package io.jkvm.device.virtio.input;

import io.jkvm.device.virtio.VirtioDriver;
import io.jkvm.device.virtio.pci.VirtioPciLayout;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The configuration space as Linux's virtio_input driver reads it at probe: for each
 * select/subsel it writes the two selector bytes, reads {@code size} (byte 2) and then
 * {@code size} bytes of the union at byte 8. Every answer is checked byte for byte, and
 * everything else answers size 0.
 */
class VirtioInputConfigTest {
    private static final int CFG = VirtioPciLayout.DEVICE_OFFSET;

    /** What the driver sees for (select, subsel): the {@code size} bytes of the union. */
    private static byte[] ask(VirtioDriver drv, int select, int subsel) {
        drv.write(CFG, 1, select);
        drv.write(CFG + 1, 1, subsel);
        assertThat(drv.read(CFG, 1)).as("select reads back").isEqualTo(select);
        assertThat(drv.read(CFG + 1, 1)).as("subsel reads back").isEqualTo(subsel);
        int size = (int) drv.read(CFG + 2, 1);
        byte[] b = new byte[size];
        for (int i = 0; i < size; i++) {
            b[i] = (byte) drv.read(CFG + 8 + i, 1);
        }
        // Past the answer the union reads as zero, up to its end.
        for (int i = size; i < InputProfile.MAX_ANSWER; i++) {
            assertThat(drv.read(CFG + 8 + i, 1)).as("union byte %d past size %d", i, size).isZero();
        }
        return b;
    }

    private static byte[] bytes(int... v) {
        byte[] b = new byte[v.length];
        for (int i = 0; i < v.length; i++) {
            b[i] = (byte) v[i];
        }
        return b;
    }

    @Test
    void keyboardAnswersWhatLinuxAsks() {
        try (VirtioDriver drv = new VirtioDriver(VirtioInput.keyboard())) {
            assertThat(drv.dev.config().read(0x02, 2)).as("PCI device id 0x1040 + 18").isEqualTo(0x1052);
            assertThat(ask(drv, 0x01, 0)).isEqualTo("jkvm virtio keyboard".getBytes(StandardCharsets.US_ASCII));
            assertThat(ask(drv, 0x02, 0)).as("no serial").isEmpty();
            assertThat(ask(drv, 0x03, 0)).as("BUS_VIRTUAL, vendor 0, product 1, version 1")
                    .isEqualTo(bytes(0x06, 0, 0, 0, 1, 0, 1, 0));
            assertThat(ask(drv, 0x10, 0)).as("no property bits").isEmpty();
            assertThat(ask(drv, 0x11, 0x14)).as("EV_REP: REP_DELAY, REP_PERIOD").isEqualTo(bytes(0x03));
            byte[] keys = new byte[32];
            Arrays.fill(keys, (byte) 0xff);
            keys[0] = (byte) 0xfe; // no KEY_RESERVED
            keys[31] = 0x01; // KEY_MICMUTE (248) is the last
            assertThat(ask(drv, 0x11, 0x01)).as("EV_KEY: KEY_ESC..KEY_MICMUTE").isEqualTo(keys);
            assertThat(ask(drv, 0x11, 0x02)).as("no EV_REL").isEmpty();
            assertThat(ask(drv, 0x11, 0x03)).as("no EV_ABS").isEmpty();
            assertThat(ask(drv, 0x11, 0x04)).as("no EV_MSC").isEmpty();
            assertThat(ask(drv, 0x11, 0x05)).as("no EV_SW").isEmpty();
            assertThat(ask(drv, 0x11, 0x11)).as("EV_LED: NUML, CAPSL, SCROLLL").isEqualTo(bytes(0x07));
            assertThat(ask(drv, 0x11, 0x12)).as("no EV_SND").isEmpty();
            assertThat(ask(drv, 0x12, 0x00)).as("no axes").isEmpty();
        }
    }

    @Test
    void tabletAnswersWhatLinuxAsks() {
        try (VirtioDriver drv = new VirtioDriver(VirtioInput.tablet())) {
            assertThat(ask(drv, 0x01, 0)).isEqualTo("jkvm virtio tablet".getBytes(StandardCharsets.US_ASCII));
            assertThat(ask(drv, 0x02, 0)).isEmpty();
            assertThat(ask(drv, 0x03, 0)).isEqualTo(bytes(0x06, 0, 0, 0, 3, 0, 1, 0));
            assertThat(ask(drv, 0x10, 0)).as("no INPUT_PROP_DIRECT: an absolute pointer, not a touchscreen").isEmpty();
            assertThat(ask(drv, 0x11, 0x14)).as("no EV_REP").isEmpty();
            byte[] buttons = new byte[35];
            buttons[34] = 0x07; // BTN_LEFT 0x110, BTN_RIGHT 0x111, BTN_MIDDLE 0x112
            assertThat(ask(drv, 0x11, 0x01)).isEqualTo(buttons);
            assertThat(ask(drv, 0x11, 0x02)).as("REL_WHEEL (8)").isEqualTo(bytes(0x00, 0x01));
            assertThat(ask(drv, 0x11, 0x03)).as("ABS_X, ABS_Y").isEqualTo(bytes(0x03));
            assertThat(ask(drv, 0x11, 0x11)).as("no EV_LED").isEmpty();
            byte[] axis = bytes(0, 0, 0, 0, 0xff, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0); // min 0, max 32767
            assertThat(ask(drv, 0x12, 0x00)).as("ABS_X info").isEqualTo(axis);
            assertThat(ask(drv, 0x12, 0x01)).as("ABS_Y info").isEqualTo(axis);
            assertThat(ask(drv, 0x12, 0x02)).as("no ABS_Z").isEmpty();
        }
    }

    @Test
    void everythingElseAnswersSizeZero() {
        for (VirtioInput dev : new VirtioInput[] {VirtioInput.keyboard(), VirtioInput.tablet()}) {
            try (VirtioDriver drv = new VirtioDriver(dev)) {
                int answered = 0;
                List<String> wrong = new ArrayList<>();
                byte[] size = new byte[1];
                for (int select = 0; select < 256; select++) {
                    for (int subsel = 0; subsel < 256; subsel++) {
                        boolean known = (select == 0x01 || select == 0x03) && subsel == 0
                                || select == 0x11 && dev.profile().eventCodes().containsKey(subsel)
                                || select == 0x12 && dev.profile().axes().containsKey(subsel);
                        dev.writeConfig(0, new byte[] {(byte) select, (byte) subsel});
                        dev.readConfig(2, size);
                        if ((size[0] != 0) != known) {
                            wrong.add(Integer.toHexString(select) + "/" + Integer.toHexString(subsel));
                        }
                        answered += known ? 1 : 0;
                    }
                }
                assertThat(wrong).as("select/subsel answered wrongly").isEmpty();
                assertThat(answered).isEqualTo(2 + dev.profile().eventCodes().size() + dev.profile().axes().size());
            }
        }
    }

    @Test
    void onlyTheSelectorIsWritable() {
        VirtioInput dev = VirtioInput.tablet();
        dev.writeConfig(0, new byte[] {0x12, 0x01, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55});
        byte[] head = new byte[12];
        dev.readConfig(0, head);
        assertThat(head).isEqualTo(bytes(0x12, 0x01, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0));
        byte[] max = new byte[4];
        dev.readConfig(12, max);
        assertThat(max).isEqualTo(bytes(0xff, 0x7f, 0, 0));
    }
}
