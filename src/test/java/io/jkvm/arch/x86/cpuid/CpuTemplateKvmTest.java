package io.jkvm.arch.x86.cpuid;

import io.jkvm.kvm.CpuidEntry;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.vmm.Machine;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** A template's bits as KVM takes them: KVM_SET_CPUID2 with the templated list, KVM_GET_CPUID2 reads them back. */
@Tag("kvm")
class CpuTemplateKvmTest {
    @Test
    void theTemplatedCpuidIsWhatTheVcpuHolds() {
        KvmAvailable.assume();
        try (Machine m = Machine.create(new Machine.Options(1, 16L << 20, true, io.jkvm.memory.RamBacking.PAGES))) {
            List<CpuidEntry> base = new CpuidBuilder(m.kvm().supportedCpuid(), false).forVcpu(0, 1);
            // Leaf 1 EAX family/model/stepping fixed to 0x30ff2, ECX bit 2 (DTES64) cleared,
            // EDX bit 12 (MTRR) set; leaf 1 exists on every x86 host KVM supports.
            CpuTemplate t = new CpuTemplate(List.of(), List.of(new CpuidModifier(1, 0, 0, List.of(
                    new CpuidModifier.Register(CpuidRegister.EAX, RegisterBitmap.parse("0bxxxx000000000011xx00111111110010", 32)),
                    new CpuidModifier.Register(CpuidRegister.ECX, RegisterBitmap.parse("0b0xx", 32)),
                    new CpuidModifier.Register(CpuidRegister.EDX, RegisterBitmap.parse("0b1_xxxx_xxxx_xxxx", 32))))), List.of());
            m.vcpus().getFirst().setCpuid(t.applyToCpuid(base));
            CpuidEntry leaf1 = m.vcpus().getFirst().getCpuid().stream().filter(e -> e.function() == 1).findFirst().orElseThrow();
            CpuidEntry host = base.stream().filter(e -> e.function() == 1).findFirst().orElseThrow();
            assertThat(leaf1.eax() & 0x0fff3fff).isEqualTo(0x00030ff2);
            assertThat(leaf1.eax() & 0xf000c000).isEqualTo(host.eax() & 0xf000c000);
            assertThat(leaf1.ecx() & 4).isZero();
            assertThat(leaf1.edx() & (1 << 12)).isNotZero();
        }
    }
}
