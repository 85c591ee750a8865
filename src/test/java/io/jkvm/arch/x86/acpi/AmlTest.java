package io.jkvm.arch.x86.acpi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jkvm.arch.x86.VirtioMmioWindow;
import org.junit.jupiter.api.Test;

class AmlTest {
    private static byte[] bytes(int... v) {
        byte[] b = new byte[v.length];
        for (int i = 0; i < v.length; i++) {
            b[i] = (byte) v[i];
        }
        return b;
    }

    @Test
    void pkgLengthAtBoundaries() {
        assertThat(Aml.pkgLength(0)).isEqualTo(bytes(0x00));
        assertThat(Aml.pkgLength(63)).isEqualTo(bytes(0x3f));
        assertThat(Aml.pkgLength(64)).isEqualTo(bytes(0x40, 0x04));
        assertThat(Aml.pkgLength(4095)).isEqualTo(bytes(0x4f, 0xff));
        assertThat(Aml.pkgLength(4096)).isEqualTo(bytes(0x80, 0x00, 0x01));
        assertThat(Aml.pkgLength(0xfffff)).isEqualTo(bytes(0x8f, 0xff, 0xff));
        assertThat(Aml.pkgLength(1 << 20)).isEqualTo(bytes(0xc0, 0x00, 0x00, 0x01));
        assertThat(Aml.pkgLength(Aml.MAX_PKG_LENGTH)).isEqualTo(bytes(0xcf, 0xff, 0xff, 0xff));
        assertThatThrownBy(() -> Aml.pkgLength(1 << 28)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void withPkgLengthCountsItsOwnBytes() {
        assertThat(Aml.withPkgLength(new byte[62])[0]).isEqualTo((byte) 63);
        assertThat(Aml.withPkgLength(new byte[62])).hasSize(63);
        // 63 body bytes + 1 length byte = 64 > 63: needs two bytes, total 65
        byte[] two = Aml.withPkgLength(new byte[63]);
        assertThat(two).hasSize(65);
        assertThat(AmlDecoder.decodePkgLength(new byte[] {two[0], two[1]})).isEqualTo(65);
        // 4094 + 2 = 4096 does not fit two bytes: three bytes, total 4097
        byte[] three = Aml.withPkgLength(new byte[4094]);
        assertThat(three.length).isEqualTo(4097);
        assertThat(AmlDecoder.decodePkgLength(new byte[] {three[0], three[1], three[2]})).isEqualTo(4097);
        assertThat(Aml.withPkgLength(new byte[4093])).hasSize(4095);
    }

    @Test
    void integersUseTheShortestEncoding() {
        assertThat(Aml.integer(0)).isEqualTo(bytes(0x00));
        assertThat(Aml.integer(1)).isEqualTo(bytes(0x01));
        assertThat(Aml.integer(5)).isEqualTo(bytes(0x0a, 0x05));
        assertThat(Aml.integer(0x1234)).isEqualTo(bytes(0x0b, 0x34, 0x12));
        assertThat(Aml.integer(0xcafebabeL)).isEqualTo(bytes(0x0c, 0xbe, 0xba, 0xfe, 0xca));
        assertThat(Aml.integer(0x1_0000_0000L)).isEqualTo(bytes(0x0e, 0, 0, 0, 0, 1, 0, 0, 0));
    }

    @Test
    void eisaIdMatchesTheKnownEncoding() {
        assertThat(Aml.eisaIdValue("PNP0A03")).isEqualTo(0x030ad041L);
        assertThat(Aml.eisaIdValue("PNP0501")).isEqualTo(0x0105d041L);
        assertThat(Aml.eisaId("PNP0A03")).isEqualTo(bytes(0x0c, 0x41, 0xd0, 0x0a, 0x03));
        assertThatThrownBy(() -> Aml.eisaIdValue("pnp0a03")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void nameStrings() {
        assertThat(Aml.nameString("_HID")).isEqualTo("_HID".getBytes());
        assertThat(Aml.nameString("_SB")).isEqualTo("_SB_".getBytes());
        assertThat(Aml.nameString("\\_S5_")).isEqualTo("\\_S5_".getBytes());
        assertThat(Aml.nameString("\\_SB_.PCI0")).isEqualTo(bytes('\\', 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0'));
        assertThat(Aml.nameString("\\_SB_.PCI0.COM1"))
                .startsWith(bytes('\\', 0x2f, 3, '_', 'S', 'B', '_')).hasSize(15);
        assertThat(Aml.nameString("^FOO")).isEqualTo("^FOO_".getBytes());
        assertThat(Aml.nameString("\\")).isEqualTo(bytes('\\', 0));
        assertThatThrownBy(() -> Aml.nameString("toolong")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Aml.nameString("1ABC")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void s5PackageEncodesLikeIasl() {
        byte[] s5 = Aml.name("\\_S5_", Aml.pkg(Aml.integer(5), Aml.ZERO, Aml.ZERO, Aml.ZERO));
        assertThat(s5).isEqualTo(bytes(0x08, '\\', '_', 'S', '5', '_', 0x12, 0x07, 0x04, 0x0a, 0x05, 0, 0, 0));
    }

    @Test
    void stringsAndBuffers() {
        assertThat(Aml.string("ab")).isEqualTo(bytes(0x0d, 'a', 'b', 0));
        assertThat(Aml.buffer(bytes(0x79, 0))).isEqualTo(bytes(0x11, 0x05, 0x0a, 0x02, 0x79, 0x00));
        assertThatThrownBy(() -> Aml.string("é")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void resourceDescriptorsHaveSpecLengths() {
        assertThat(AmlResources.io(0x3f8, 0x3f8, 1, 8)).isEqualTo(bytes(0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08));
        assertThat(AmlResources.irqNoFlags(4)).isEqualTo(bytes(0x22, 0x10, 0x00));
        assertThat(AmlResources.wordBusNumber(0, 0)).hasSize(16).startsWith(bytes(0x88, 13, 0, 2, 0x0c, 0));
        assertThat(AmlResources.wordIo(0xd00, 0xffff))
                .isEqualTo(bytes(0x88, 13, 0, 1, 0x0c, 0x03, 0, 0, 0x00, 0x0d, 0xff, 0xff, 0, 0, 0x00, 0xf3));
        byte[] mem = AmlResources.dwordMemoryNonCacheable(0xc0000000L, 0xfbffffffL);
        assertThat(mem).hasSize(26).startsWith(bytes(0x87, 23, 0, 0, 0x0c, 0x01));
        assertThat(mem[22] & 0xff | (mem[23] & 0xff) << 8 | (mem[24] & 0xff) << 16 | (mem[25] & 0xff) << 24)
                .isEqualTo(0x3c000000);
    }

    @Test
    void memory32FixedIsTheTwelveByteLargeItem() {
        // ACPI 6.4 §6.4.3.4: 0x86, length 0x0009, information (bit 0 = read/write), base, length.
        assertThat(AmlResources.memory32Fixed(true, 0xfc00_0000L, 0x1000))
                .isEqualTo(bytes(0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xfc, 0x00, 0x10, 0x00, 0x00));
        assertThat(AmlResources.memory32Fixed(false, 0x1234_5000L, 0x20))
                .isEqualTo(bytes(0x86, 0x09, 0x00, 0x00, 0x00, 0x50, 0x34, 0x12, 0x20, 0x00, 0x00, 0x00));
        assertThatThrownBy(() -> AmlResources.memory32Fixed(true, 0xffff_f000L, 0x2000))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> AmlResources.memory32Fixed(true, 0x1000, 0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void extendedInterruptIsAConsumersLevelHighExclusiveSingleGsi() {
        // ACPI 6.4 §6.4.3.6: 0x89, length 0x0006, flags, table length 1, one DWORD interrupt number.
        byte[] irq = AmlResources.interruptLevelHighExclusive(5);
        assertThat(irq).isEqualTo(bytes(0x89, 0x06, 0x00, 0x01, 0x01, 0x05, 0x00, 0x00, 0x00));
        int flags = irq[3];
        assertThat(flags & AmlResources.EXT_IRQ_CONSUMER).as("resource consumer").isNotZero();
        assertThat(flags & AmlResources.EXT_IRQ_EDGE).as("level-triggered").isZero();
        assertThat(flags & AmlResources.EXT_IRQ_ACTIVE_LOW).as("active-high").isZero();
        assertThat(flags & AmlResources.EXT_IRQ_SHARED).as("exclusive").isZero();
        assertThat(AmlResources.interruptLevelHighExclusive(0x123))
                .isEqualTo(bytes(0x89, 0x06, 0x00, 0x01, 0x01, 0x23, 0x01, 0x00, 0x00));
        assertThatThrownBy(() -> AmlResources.interruptLevelHighExclusive(-1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void virtioMmioDeviceEncodesLikeIasl() {
        // iasl 20200925 compiles
        //   Device (VR00) { Name (_HID, "LNRO0005") Name (_UID, Zero)
        //     Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, 0xFC000000, 0x00001000)
        //       Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive, ,, ) {5} }) }
        // to these bytes.
        byte[] expected = bytes(0x5b, 0x82, 0x3a, 'V', 'R', '0', '0',
                0x08, '_', 'H', 'I', 'D', 0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00,
                0x08, '_', 'U', 'I', 'D', 0x00,
                0x08, '_', 'C', 'R', 'S', 0x11, 0x1a, 0x0a, 0x17,
                0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xfc, 0x00, 0x10, 0x00, 0x00,
                0x89, 0x06, 0x00, 0x01, 0x01, 0x05, 0x00, 0x00, 0x00,
                0x79, 0x00);
        assertThat(Dsdt.virtioMmio(0, new VirtioMmioWindow(0xfc00_0000L, 5))).isEqualTo(expected);
    }
}
