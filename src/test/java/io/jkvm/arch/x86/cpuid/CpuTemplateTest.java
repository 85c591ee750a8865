package io.jkvm.arch.x86.cpuid;

import io.jkvm.kvm.CpuidEntry;
import io.jkvm.kvm.MsrEntry;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class CpuTemplateTest {
    static final List<CpuidEntry> HOST = List.of(
            new CpuidEntry(0, 0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69),
            new CpuidEntry(1, 0, 0, 0x000506e3, 0x00010800, 0xfffa3203, 0x178bfbff),
            new CpuidEntry(7, 0, 1, 0, 0xffffffff, 0xffffffff, 0xffffffff),
            new CpuidEntry(7, 1, 1, 0, 0, 0, 0));

    static CpuidModifier mod(int leaf, int subleaf, int flags, CpuidRegister r, String bitmap) {
        return new CpuidModifier(leaf, subleaf, flags, List.of(new CpuidModifier.Register(r, RegisterBitmap.parse(bitmap, 32))));
    }

    @Test
    void bitmapParsesFirecrackersDocumentedExample() {
        // cpu-templates.md: this eax bitmap clears 0x0ffc390d, sets 0x000306f2, keeps 0xf000c000.
        RegisterBitmap b = RegisterBitmap.parse("0bxxxx000000000011xx00011011110010", 32);
        assertThat(b.mask()).isEqualTo(0x0fff3fffL);
        assertThat(b.value()).isEqualTo(0x000306f2L);
        assertThat(b.mask() & ~b.value()).isEqualTo(0x0ffc390dL);
        assertThat(RegisterBitmap.parse("0b101", 32)).isEqualTo(new RegisterBitmap(32, 0b111, 0b101));
        assertThat(RegisterBitmap.parse("0b1_0_1", 32)).isEqualTo(new RegisterBitmap(32, 0b111, 0b101));
    }

    @Test
    void bitmapRefusals() {
        assertThatThrownBy(() -> RegisterBitmap.parse("101", 32)).hasMessageContaining("must start with 0b");
        assertThatThrownBy(() -> RegisterBitmap.parse("0b", 32)).hasMessageContaining("no bits");
        assertThatThrownBy(() -> RegisterBitmap.parse("0b___", 32)).hasMessageContaining("no bits");
        assertThatThrownBy(() -> RegisterBitmap.parse("0b" + "x".repeat(33), 32)).hasMessageContaining("more than 32");
        assertThatThrownBy(() -> RegisterBitmap.parse("0b" + "1".repeat(65), 64)).hasMessageContaining("more than 64");
        assertThatThrownBy(() -> RegisterBitmap.parse("0b12", 32)).hasMessageContaining("'2'");
        assertThatThrownBy(() -> RegisterBitmap.parse(null, 32)).hasMessageContaining("missing");
    }

    @Test
    void appliesToTheMatchingEntryAndReplacesItsFlags() {
        CpuTemplate t = new CpuTemplate(List.of(), List.of(
                mod(1, 0, 0, CpuidRegister.ECX, "0b0xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx1"),
                mod(7, 0, 1, CpuidRegister.EBX, "0b0000"),
                mod(7, 1, 0, CpuidRegister.EDX, "0b1")), List.of());
        List<CpuidEntry> out = t.applyToCpuid(HOST);
        assertThat(out).hasSize(HOST.size());
        assertThat(out.get(0)).isEqualTo(HOST.get(0));
        assertThat(out.get(1).ecx()).isEqualTo((0xfffa3203 & ~(1 << 31)) | 1);
        assertThat(out.get(1).edx()).isEqualTo(HOST.get(1).edx());
        assertThat(out.get(2).ebx()).isEqualTo(0xfffffff0);
        assertThat(out.get(3).edx()).isEqualTo(1);
        assertThat(out.get(3).flags()).isZero();
    }

    @Test
    void aLeafKvmDoesNotReportIsRefused() {
        CpuTemplate t = new CpuTemplate(List.of(), List.of(mod(0x14, 0, 1, CpuidRegister.EAX, "0b0")), List.of());
        assertThat(t.firstUnsupported(HOST).leaf()).isEqualTo(0x14);
        assertThatThrownBy(() -> t.applyToCpuid(HOST)).hasMessageContaining("leaf 0x14 subleaf 0");
        assertThat(CpuTemplate.NONE.applyToCpuid(HOST)).isSameAs(HOST);
    }

    @Test
    void msrsInTheBootListAreModifiedOthersStartFromTheVcpu() {
        CpuTemplate t = new CpuTemplate(List.of(), List.of(), List.of(
                new MsrModifier(0x1a0, RegisterBitmap.parse("0b10", 64)),
                new MsrModifier(0x10a, RegisterBitmap.parse("0b" + "0".repeat(60) + "1x0x", 64))));
        List<MsrEntry> boot = List.of(new MsrEntry(0x10, 0), new MsrEntry(0x1a0, 1));
        List<MsrEntry> out = t.applyToMsrs(boot, addr -> {
            assertThat(addr).isEqualTo(0x10a);
            return 0xffff_ffff_ffff_ffffL;
        });
        assertThat(out).containsExactly(new MsrEntry(0x10, 0), new MsrEntry(0x1a0, 0b10), new MsrEntry(0x10a, 0b1101));
        assertThat(t.msrIndices()).containsExactly(0x1a0, 0x10a);
    }

    @Test
    void boundedSizes() {
        List<CpuidModifier> many = new ArrayList<>(Collections.nCopies(CpuTemplate.MAX_CPUID_MODIFIERS + 1,
                mod(1, 0, 0, CpuidRegister.EAX, "0b1")));
        assertThatThrownBy(() -> new CpuTemplate(List.of(), many, List.of())).hasMessageContaining("256 CPUID");
        List<MsrModifier> msrs = Collections.nCopies(CpuTemplate.MAX_MSR_MODIFIERS + 1,
                new MsrModifier(0x10, RegisterBitmap.parse("0b1", 64)));
        assertThatThrownBy(() -> new CpuTemplate(List.of(), List.of(), msrs)).hasMessageContaining("256 MSR");
        assertThatThrownBy(() -> new MsrModifier(0x10, RegisterBitmap.parse("0b1", 32))).hasMessageContaining("64 bits");
    }
}
