package io.jkvm.arch.x86.boot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jkvm.arch.x86.e820.E820Map;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class BootParamsTest {
    private static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

    @Test
    void copiesHeaderAndSetsLoaderFields() {
        byte[] img = new BzImageBuilder().build();
        SetupHeader h = SetupHeader.parse(img);
        E820Map map = E820Map.forRam(512L << 20);
        byte[] page = new BootParams(img, h).commandLine(0x20000).e820(map).acpiRsdp(0xe0000).toBytes();
        ByteBuffer b = le(page);
        assertThat(page).hasSize(4096);
        assertThat(b.getInt(0x202)).isEqualTo((int) SetupHeader.HDRS_MAGIC);
        assertThat(b.getShort(0x206)).isEqualTo((short) 0x020f);
        assertThat(b.getInt(0x260)).isEqualTo(0x400000);
        assertThat(Arrays.copyOfRange(page, 0x26c, 0x290)).containsOnly(0);
        assertThat(page[0x210] & 0xff).isEqualTo(0xff);
        assertThat(page[0x211] & 0xff).isEqualTo(SetupHeader.LOADED_HIGH | SetupHeader.CAN_USE_HEAP);
        assertThat(b.getShort(0x224) & 0xffff).isEqualTo(0xde00);
        assertThat(b.getShort(0x1fa) & 0xffff).isEqualTo(0xffff);
        assertThat(b.getInt(0x228)).isEqualTo(0x20000);
        assertThat(b.getInt(0x0c8)).isZero();
        assertThat(b.getLong(0x070)).isEqualTo(0xe0000);
        assertThat(page[0x1e8]).isEqualTo((byte) map.size());
        assertThat(Arrays.copyOfRange(page, 0x2d0, 0x2d0 + 20 * map.size())).isEqualTo(map.toBootParamsTable());
        assertThat(b.getInt(0x218)).isZero();
        assertThat(Arrays.copyOfRange(page, 0, 0x70)).containsOnly(0);
    }

    @Test
    void ramdiskFieldsSplitAcross32Bits() {
        byte[] img = new BzImageBuilder().build();
        byte[] page = new BootParams(img, SetupHeader.parse(img)).ramdisk(0x1_2345_6000L, 0x1_0000_1000L).toBytes();
        ByteBuffer b = le(page);
        assertThat(b.getInt(0x218)).isEqualTo(0x23456000);
        assertThat(b.getInt(0x21c)).isEqualTo(0x1000);
        assertThat(b.getInt(0x0c0)).isEqualTo(1);
        assertThat(b.getInt(0x0c4)).isEqualTo(1);
    }

    @Test
    void ramdiskAbove4GiBNeedsTheXloadflag() {
        BzImageBuilder bb = new BzImageBuilder();
        bb.xloadFlags = SetupHeader.XLF_KERNEL_64;
        byte[] img = bb.build();
        BootParams bp = new BootParams(img, SetupHeader.parse(img));
        assertThatThrownBy(() -> bp.ramdisk(0x1_0000_0000L, 4096)).hasMessageContaining("XLF_CAN_BE_LOADED_ABOVE_4G");
    }

    @Test
    void rsdpOnlyForProtocol214() {
        BzImageBuilder bb = new BzImageBuilder();
        bb.version = 0x020d;
        byte[] img = bb.build();
        byte[] page = new BootParams(img, SetupHeader.parse(img)).acpiRsdp(0xe0000).toBytes();
        assertThat(le(page).getLong(0x070)).isZero();
    }
}
