package io.jkvm.arch.x86.cpuid;

import io.jkvm.kvm.CpuidEntry;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class StaticCpuTemplateTest {
    @Test
    void vendorsAndShapes() {
        assertThat(StaticCpuTemplate.hostVendor(CpuTemplateTest.HOST)).isEqualTo("GenuineIntel");
        assertThat(StaticCpuTemplate.hostVendor(List.of(new CpuidEntry(0, 0, 0, 0x10, 0x68747541, 0x444d4163, 0x69746e65))))
                .isEqualTo("AuthenticAMD");
        assertThat(StaticCpuTemplate.T2A.vendor()).isEqualTo(StaticCpuTemplate.Vendor.AMD);
        for (StaticCpuTemplate t : List.of(StaticCpuTemplate.C3, StaticCpuTemplate.T2, StaticCpuTemplate.T2S,
                StaticCpuTemplate.T2CL)) {
            assertThat(t.vendor()).isEqualTo(StaticCpuTemplate.Vendor.INTEL);
        }
        // Leaves 1, 7.0, 0xD.0, 0xD.1, 0x80000001 (C3) and 0x80000008 (the T2 family), as Firecracker's.
        assertThat(StaticCpuTemplate.C3.template().cpuid()).hasSize(5);
        assertThat(StaticCpuTemplate.T2.template().cpuid()).hasSize(6);
        assertThat(StaticCpuTemplate.T2S.template().msrs()).singleElement()
                .satisfies(m -> assertThat(m.bitmap().value()).isEqualTo(0x0c0a0c4cL));
        assertThat(StaticCpuTemplate.byName("None")).isNull();
    }

    @Test
    void t2FixesFamilyModelSteppingAndClearsAvx512() {
        List<CpuidEntry> out = StaticCpuTemplate.T2.template().applyToCpuid(List.of(
                new CpuidEntry(1, 0, 0, 0x000506e3, 0, 0, 0),
                new CpuidEntry(7, 0, 1, 0, 0xffffffff, 0, 0),
                new CpuidEntry(0xd, 0, 1, 0x2ff, 0, 0, 0),
                new CpuidEntry(0xd, 1, 1, 0xf, 0, 0, 0),
                new CpuidEntry(0x80000001, 0, 0, 0, 0, -1, -1),
                new CpuidEntry(0x80000008, 0, 0, 0, -1, 0, 0)));
        assertThat(out.get(0).eax()).isEqualTo(0x000306f2);
        assertThat(out.get(1).ebx() & (1 << 16)).isZero(); // AVX512F
        assertThat(out.get(1).ebx() & (1 << 5)).isNotZero(); // AVX2 kept
        assertThat(out.get(2).eax()).isEqualTo(0x7);
    }
}
