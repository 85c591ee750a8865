package io.jkvm.arch.x86.cpuid;

import io.jkvm.kvm.CpuidEntry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class CpuidBuilderTest {
    private static final int SIG = CpuidEntry.FLAG_SIGNIFICANT_INDEX;

    /** A plausible Intel host as KVM_GET_SUPPORTED_CPUID reports it. */
    private static final List<CpuidEntry> INTEL = List.of(
            new CpuidEntry(0x0, 0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69),
            new CpuidEntry(0x1, 0, 0, 0x000906ea, 0x00000800, 0xf7fa3223 | CpuidBuilder.ECX_VMX, 0x0f8bfbff),
            new CpuidEntry(0x4, 0, SIG, 0x1c004121, 0x01c0003f, 0x3f, 0),
            new CpuidEntry(0x4, 1, SIG, 0x1c004122, 0x01c0003f, 0x3f, 0),
            new CpuidEntry(0x4, 2, SIG, 0x1c004143, 0x00c0003f, 0x3ff, 0),
            new CpuidEntry(0x4, 3, SIG, 0x1c03c163, 0x02c0003f, 0x2fff, 6),
            new CpuidEntry(0x4, 4, SIG, 0, 0, 0, 0),
            new CpuidEntry(0x6, 0, 0, 0x4, 0, 0, 0),
            new CpuidEntry(0x7, 0, SIG, 0, 0x029c67af, 0x40000008, 0xbc000400),
            new CpuidEntry(0xa, 0, 0, 0x07300402, 0, 0, 0x603),
            new CpuidEntry(0xb, 0, SIG, 1, 2, 0x100, 0),
            new CpuidEntry(0xb, 1, SIG, 4, 8, 0x201, 0),
            new CpuidEntry(0x1f, 0, SIG, 1, 2, 0x100, 0),
            new CpuidEntry(0x1f, 1, SIG, 4, 8, 0x201, 0),
            new CpuidEntry(0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d),
            new CpuidEntry(0x40000001, 0, 0, 0x01007afb, 0, 0, 0),
            new CpuidEntry(0x80000000, 0, 0, 0x80000008, 0, 0, 0),
            new CpuidEntry(0x80000001, 0, 0, 0, 0, 0x121 | CpuidBuilder.EXT_ECX_SVM, 0x2c100800),
            new CpuidEntry(0x80000008, 0, 0, 0x3027, 0, 0, 0));

    private static CpuidEntry find(List<CpuidEntry> l, int fn, int idx) {
        return l.stream().filter(e -> e.function() == fn && e.index() == idx).findFirst().orElseThrow();
    }

    @Test
    void leaf1CarriesApicIdCountAndHypervisorBit() {
        List<CpuidEntry> out = new CpuidBuilder(INTEL, false).forVcpu(2, 3);
        CpuidEntry l1 = find(out, 1, 0);
        assertThat(l1.ebx() >>> 24).isEqualTo(2);
        assertThat((l1.ebx() >>> 16) & 0xff).isEqualTo(4); // 3 CPUs -> 4 addressable IDs
        assertThat(l1.ebx() & 0xffff).isEqualTo(0x0800); // CLFLUSH size kept
        assertThat(l1.ecx() & CpuidBuilder.ECX_HYPERVISOR).isNotZero();
        assertThat(l1.ecx() & CpuidBuilder.ECX_VMX).isZero();
        assertThat(l1.edx() & CpuidBuilder.EDX_HTT).isNotZero();
        assertThat(l1.eax()).isEqualTo(0x000906ea);
    }

    @Test
    void singleCpuHasNoHtt() {
        CpuidEntry l1 = find(new CpuidBuilder(INTEL, false).forVcpu(0, 1), 1, 0);
        assertThat(l1.edx() & CpuidBuilder.EDX_HTT).isZero();
        assertThat((l1.ebx() >>> 16) & 0xff).isEqualTo(1);
    }

    @Test
    void nestedKeepsVmxAndSvm() {
        List<CpuidEntry> out = new CpuidBuilder(INTEL, true).forVcpu(0, 1);
        assertThat(find(out, 1, 0).ecx() & CpuidBuilder.ECX_VMX).isNotZero();
        assertThat(find(out, 0x80000001, 0).ecx() & CpuidBuilder.EXT_ECX_SVM).isNotZero();
        List<CpuidEntry> flat = new CpuidBuilder(INTEL, false).forVcpu(0, 1);
        assertThat(find(flat, 0x80000001, 0).ecx()).isEqualTo(0x121);
    }

    @Test
    void extendedTopologyDescribesOnePackageOfSingleThreadCores() {
        for (int fn : new int[] {0xb, 0x1f}) {
            List<CpuidEntry> out = new CpuidBuilder(INTEL, false).forVcpu(5, 6);
            List<CpuidEntry> leaf = out.stream().filter(e -> e.function() == fn).toList();
            assertThat(leaf).extracting(CpuidEntry::index).containsExactly(0, 1, 2);
            assertThat(leaf).allSatisfy(e -> {
                assertThat(e.edx()).isEqualTo(5);
                assertThat(e.flags()).isEqualTo(SIG);
                assertThat(e.ecx() & 0xff).isEqualTo(e.index());
            });
            assertThat(leaf.get(0).eax() & 0x1f).isZero();
            assertThat(leaf.get(0).ebx()).isEqualTo(1);
            assertThat((leaf.get(0).ecx() >>> 8) & 0xff).isEqualTo(1);
            assertThat(leaf.get(1).eax() & 0x1f).isEqualTo(3); // 6 cores -> 3 bits
            assertThat(leaf.get(1).ebx()).isEqualTo(6);
            assertThat((leaf.get(1).ecx() >>> 8) & 0xff).isEqualTo(2);
            assertThat((leaf.get(2).ecx() >>> 8) & 0xff).isZero();
        }
    }

    @Test
    void cacheLeafIsConsistentWithTopology() {
        List<CpuidEntry> out = new CpuidBuilder(INTEL, false).forVcpu(0, 4);
        for (int i = 0; i < 4; i++) {
            CpuidEntry c = find(out, 4, i);
            assertThat(c.eax() >>> 26).isEqualTo(3);
            int level = (c.eax() >>> 5) & 7;
            int sharing = (c.eax() >>> 14) & 0xfff;
            assertThat(sharing).isEqualTo(level <= 2 ? 0 : 3);
            assertThat(c.eax() & 0x3fff).isEqualTo(INTEL.get(2 + i).eax() & 0x3fff);
        }
        assertThat(find(out, 4, 4).eax()).isZero();
    }

    @Test
    void kvmSignatureAndPmu() {
        List<CpuidEntry> out = new CpuidBuilder(INTEL, false).forVcpu(0, 1);
        CpuidEntry sig = find(out, 0x40000000, 0);
        assertThat(sig.eax()).isEqualTo(0x40000001);
        byte[] s = new byte[12];
        for (int i = 0; i < 4; i++) {
            s[i] = (byte) (sig.ebx() >>> (8 * i));
            s[4 + i] = (byte) (sig.ecx() >>> (8 * i));
            s[8 + i] = (byte) (sig.edx() >>> (8 * i));
        }
        assertThat(s).isEqualTo("KVMKVMKVM\0\0\0".getBytes());
        assertThat(find(out, 0x40000001, 0).eax()).isEqualTo(0x01007afb);
        CpuidEntry pmu = find(out, 0xa, 0);
        assertThat(List.of(pmu.eax(), pmu.ebx(), pmu.ecx(), pmu.edx())).containsOnly(0);
        assertThat(find(new CpuidBuilder(INTEL, false, true).forVcpu(0, 1), 0xa, 0)).isEqualTo(INTEL.get(9));
    }

    @Test
    void otherLeavesPassThroughInOrder() {
        List<CpuidEntry> out = new CpuidBuilder(INTEL, false).forVcpu(0, 2);
        assertThat(find(out, 7, 0)).isEqualTo(INTEL.get(8));
        assertThat(find(out, 6, 0)).isEqualTo(INTEL.get(7));
        assertThat(find(out, 0x80000008, 0)).isEqualTo(INTEL.get(18)); // Intel: not touched
        assertThat(out.getFirst()).isEqualTo(INTEL.getFirst());
        assertThat(out).hasSize(INTEL.size() + 2); // 0xb and 0x1f gain a third subleaf each
    }

    @Test
    void amdTopologyLeaves() {
        List<CpuidEntry> amd = List.of(
                new CpuidEntry(0x0, 0, 0, 0x10, CpuidBuilder.VENDOR_AMD_EBX, 0x444d4163, 0x69746e65),
                new CpuidEntry(0x1, 0, 0, 0x00a50f00, 0, CpuidBuilder.ECX_HYPERVISOR, 0),
                new CpuidEntry(0x80000008, 0, 0, 0x3030, 0, 0x7007, 0),
                new CpuidEntry(0x8000001e, 0, 0, 0, 0x100, 0, 0));
        List<CpuidEntry> out = new CpuidBuilder(amd, false).forVcpu(3, 4);
        CpuidEntry sizes = find(out, 0x80000008, 0);
        assertThat(sizes.ecx() & 0xff).isEqualTo(3);
        assertThat((sizes.ecx() >>> 12) & 0xf).isEqualTo(2);
        CpuidEntry topo = find(out, 0x8000001e, 0);
        assertThat(topo.eax()).isEqualTo(3);
        assertThat(topo.ebx()).isEqualTo(3);
        // a host list without 0x40000000 still gets the KVM signature
        assertThat(find(out, 0x40000000, 0).ebx()).isEqualTo(CpuidBuilder.KVM_SIGNATURE_EBX);
    }

    @Test
    void rejectsBadVcpuIndex() {
        CpuidBuilder b = new CpuidBuilder(INTEL, false);
        assertThatThrownBy(() -> b.forVcpu(2, 2)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> b.forVcpu(0, 0)).isInstanceOf(IllegalArgumentException.class);
    }
}
