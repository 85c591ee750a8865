package io.jkvm.arch.x86.boot;

import static org.assertj.core.api.Assertions.assertThat;

import io.jkvm.arch.x86.Layout;
import io.jkvm.arch.x86.TestMemory;
import io.jkvm.arch.x86.e820.E820Map;
import io.jkvm.memory.GuestMemory;
import org.junit.jupiter.api.Test;

class PvhStartInfoTest {
    @Test
    void writesStartInfoModuleAndMemmap() {
        GuestMemory mem = TestMemory.flat(16L << 20);
        E820Map map = E820Map.forRam(16L << 20);
        PvhStartInfo.write(mem, Layout.CMDLINE, new PvhStartInfo.Module(0x80_0000, 0x1234), 0xe0000, map);
        long si = Layout.PVH_INFO;
        assertThat(mem.readInt(si)).isEqualTo(0x336ec578);
        assertThat(mem.readInt(si + 4)).isEqualTo(1);
        assertThat(mem.readInt(si + 8)).isZero();
        assertThat(mem.readInt(si + 0x0c)).isEqualTo(1);
        assertThat(mem.readLong(si + 0x10)).isEqualTo(PvhStartInfo.MODLIST);
        assertThat(mem.readLong(si + 0x18)).isEqualTo(Layout.CMDLINE);
        assertThat(mem.readLong(si + 0x20)).isEqualTo(0xe0000);
        assertThat(mem.readLong(si + 0x28)).isEqualTo(PvhStartInfo.MEMMAP);
        assertThat(mem.readInt(si + 0x30)).isEqualTo(map.size());
        assertThat(mem.readLong(PvhStartInfo.MODLIST)).isEqualTo(0x80_0000);
        assertThat(mem.readLong(PvhStartInfo.MODLIST + 8)).isEqualTo(0x1234);
        assertThat(mem.read(PvhStartInfo.MEMMAP, map.size() * 24)).isEqualTo(map.toPvhMemmap());
        assertThat(PvhStartInfo.MEMMAP + 128 * 24).isLessThanOrEqualTo(Layout.ZERO_PAGE);
    }

    @Test
    void noInitrdMeansNoModules() {
        GuestMemory mem = TestMemory.flat(16L << 20);
        PvhStartInfo.write(mem, Layout.CMDLINE, null, 0xe0000, E820Map.forRam(16L << 20));
        assertThat(mem.readInt(Layout.PVH_INFO + 0x0c)).isZero();
        assertThat(mem.readLong(Layout.PVH_INFO + 0x10)).isZero();
    }
}
