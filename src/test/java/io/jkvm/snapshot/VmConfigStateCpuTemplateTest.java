package io.jkvm.snapshot;

import io.jkvm.arch.x86.cpuid.CpuTemplate;
import io.jkvm.arch.x86.cpuid.StaticCpuTemplate;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VmConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;

/** The vm_config record keeps the CPU template, so a reboot of a restored VM applies it again. */
class VmConfigStateCpuTemplateTest {
    static VmConfig config(CpuTemplate t) {
        return new VmConfig(Path.of("/k"), Optional.empty(), "console=ttyS0", 2, 256L << 20, OnReboot.EXIT, false)
                .withCpuTemplate(t);
    }

    @Test
    void everyStaticTemplateRoundTrips() {
        for (StaticCpuTemplate s : StaticCpuTemplate.values()) {
            VmConfig c = config(s.template());
            assertThat(VmConfigState.decode(VmConfigState.capture(c)).cpuTemplate()).as(s.name()).isEqualTo(s.template());
        }
        assertThat(VmConfigState.decode(VmConfigState.capture(config(CpuTemplate.NONE))).cpuTemplate())
                .isEqualTo(CpuTemplate.NONE);
        CpuTemplate caps = new CpuTemplate(List.of(7, 171), List.of(), List.of());
        assertThat(VmConfigState.decode(VmConfigState.capture(config(caps))).cpuTemplate()).isEqualTo(caps);
    }
}
