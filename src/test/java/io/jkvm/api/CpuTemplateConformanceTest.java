package io.jkvm.api;

import io.jkvm.api.VmmAction.ConfigureBootSource;
import io.jkvm.api.VmmAction.ConfigureCpu;
import io.jkvm.api.VmmAction.ConfigureMachine;
import io.jkvm.api.VmmAction.UpdateMachine;
import io.jkvm.arch.x86.cpuid.StaticCpuTemplate;
import io.jkvm.config.HostLimits;
import io.jkvm.config.OnReboot;
import io.jkvm.kvm.CpuidEntry;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * CPU templates as Firecracker's API takes them (swagger CpuConfig and machine-config
 * cpu_template; docs/cpu_templates/cpu-templates.md), against a fixed host CPU, without KVM.
 */
class CpuTemplateConformanceTest {
    /** An Intel host: leaf 0 "GenuineIntel", leaves 1, 7.0, 0xD.0/1, 0x80000001, 0x80000008; MSR 0x10a known. */
    static final HostCpu INTEL = host(0x756e6547, 0x6c65746e, 0x49656e69);
    static final HostCpu AMD = host(0x68747541, 0x444d4163, 0x69746e65);

    static HostCpu host(int ebx, int ecx, int edx) {
        return new HostCpu(List.of(
                new CpuidEntry(0, 0, 0, 0xd, ebx, ecx, edx),
                new CpuidEntry(1, 0, 0, 0x50657, 0x800, 0xfffa3203, 0x178bfbff),
                new CpuidEntry(7, 0, 1, 0, -1, -1, -1),
                new CpuidEntry(0xd, 0, 1, 0x2ff, 0, 0, 0),
                new CpuidEntry(0xd, 1, 1, 0xf, 0, 0, 0),
                new CpuidEntry(0x80000001, 0, 0, 0, 0, -1, -1),
                new CpuidEntry(0x80000008, 0, 0, 0x3030, -1, 0, 0)), new int[] {0x10, 0x10a}, c -> c == 7);
    }

    @TempDir
    Path dir;
    VmConfiguration c;

    @BeforeEach
    void config() {
        c = new VmConfiguration("t", new HostLimits(4, 8L << 30), OnReboot.EXIT,
                new EventLog("test", new ByteArrayOutputStream(), null));
        c.validation().hostCpu(INTEL);
    }

    static VmmAction parse(String method, String path, String body) {
        return ActionParser.parse(method, path, body.getBytes(StandardCharsets.UTF_8));
    }

    static final String DOC_EXAMPLE = """
            {"kvm_capabilities": ["7"],
             "cpuid_modifiers": [{"leaf": "0x1", "subleaf": "0x0", "flags": 0,
                 "modifiers": [{"register": "eax", "bitmap": "0bxxxx000000000011xx00011011110010"}]}],
             "msr_modifiers": [{"addr": "0x10a", "bitmap": "0b0000000000000000000000000000000000000000000000000000000000000000"}]}
            """;

    @Test
    void putCpuConfigTakesFirecrackersDocumentedTemplateAndItReachesTheGuestSpec() throws Exception {
        VmmAction a = parse("PUT", "/cpu-config", DOC_EXAMPLE);
        assertThat(a).isInstanceOf(ConfigureCpu.class);
        c.apply((ConfigureCpu) a);
        c.apply(new ConfigureBootSource(new BootSource(StandInGuest.kernelFile(dir).toString(), null, null)));
        var t = c.toGuestSpec().config().cpuTemplate();
        assertThat(t.cpuid()).hasSize(1);
        assertThat(t.cpuid().getFirst().registers().getFirst().bitmap().mask()).isEqualTo(0x0fff3fffL);
        assertThat(t.msrs().getFirst().addr()).isEqualTo(0x10a);
        assertThat(t.kvmCapabilities()).containsExactly(7);
        assertThat(c.full().machineConfig().cpuTemplate()).isNull();
        // Firecracker's GET /vm/config never shows the custom template.
        assertThat(Json.write(c.full())).doesNotContain("cpu-config");
        assertThat(parse("PUT", "/cpu-config", "{}")).isEqualTo(new ConfigureCpu(new CpuConfig(null, null, null)));
    }

    @Test
    void onlyPutServesCpuConfigAndAarch64FieldsAreUnknownOnX86() {
        assertThatThrownBy(() -> parse("GET", "/cpu-config", "")).hasMessageContaining("Invalid request method and/or path");
        assertThatThrownBy(() -> parse("PUT", "/cpu-config", "{\"reg_modifiers\": []}")).isInstanceOf(ApiException.class)
                .hasMessageContaining("reg_modifiers");
        assertThatThrownBy(() -> parse("PUT", "/cpu-config", "{\"vcpu_features\": []}")).isInstanceOf(ApiException.class)
                .hasMessageContaining("vcpu_features");
    }

    private void refused(String body, String field, String... message) {
        assertThatThrownBy(() -> c.apply((ConfigureCpu) parse("PUT", "/cpu-config", body)))
                .isInstanceOfSatisfying(ApiException.class, e -> {
                    assertThat(e.kind()).isEqualTo(ApiException.Kind.BAD_REQUEST);
                    assertThat(e.field()).isEqualTo(field);
                })
                .hasMessageContainingAll(message);
    }

    @Test
    void badTemplatesAreRefusedNamingTheFieldAndTheLeafOrRegister() {
        String leaf = "{\"cpuid_modifiers\": [{\"leaf\": \"0x7\", \"subleaf\": \"0x0\", \"flags\": 1, \"modifiers\": [%s]}]}";
        refused(leaf.formatted("{\"register\": \"ebx\", \"bitmap\": \"0b2\"}"), "bitmap",
                "cpuid_modifiers[0].modifiers[0].bitmap", "leaf 0x7 subleaf 0x0 ebx", "'2'");
        refused(leaf.formatted("{\"register\": \"ebx\", \"bitmap\": \"0b" + "x".repeat(33) + "\"}"), "bitmap",
                "more than 32 bits");
        refused(leaf.formatted("{\"register\": \"ebx\", \"bitmap\": \"1010\"}"), "bitmap", "must start with 0b");
        refused(leaf.formatted("{\"register\": \"rax\", \"bitmap\": \"0b1\"}"), "register", "'rax'", "eax, ebx, ecx, edx");
        refused(leaf.formatted("{\"register\": \"ebx\", \"bitmap\": \"0b1\"}, {\"register\": \"ebx\", \"bitmap\": \"0b0\"}"),
                "register", "given twice");
        refused("{\"cpuid_modifiers\": [{\"leaf\": \"7\", \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": []}]}",
                "leaf", "cpuid_modifiers[0].leaf '7'", "0x for hexadecimal");
        refused("{\"cpuid_modifiers\": [{\"leaf\": \"0x100000000\", \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": []}]}",
                "leaf", "not a 32-bit number");
        refused("{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"modifiers\": []}]}", "flags", "missing");
        refused("{\"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 8, \"modifiers\": []}]}",
                "flags", "0..7");
        refused("{\"cpuid_modifiers\": [{\"leaf\": \"0x14\", \"subleaf\": \"0x0\", \"flags\": 1, \"modifiers\": []}]}",
                "cpuid_modifiers", "Template changes a CPUID entry not supported by KVM: Leaf: 0x14, Subleaf: 0x0");
        refused("{\"msr_modifiers\": [{\"addr\": \"0x9999\", \"bitmap\": \"0b1\"}]}", "msr_modifiers",
                "Template changes an MSR entry not supported by KVM: Register Address: 0x9999");
        refused("{\"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": \"0b" + "1".repeat(65) + "\"}]}", "bitmap",
                "msr_modifiers[0].bitmap (MSR 0x10a)", "more than 64 bits");
        refused("{\"kvm_capabilities\": [\"!56\"]}", "kvm_capabilities", "!56", "not supported");
        refused("{\"kvm_capabilities\": [\"abc\"]}", "kvm_capabilities", "not a KVM capability number");
        refused("{\"kvm_capabilities\": [\"171\"]}", "kvm_capabilities", "lacks capability 171");
        String many = "{\"msr_modifiers\": [" + String.join(",", java.util.Collections.nCopies(257,
                "{\"addr\": \"0x10\", \"bitmap\": \"0b0\"}")) + "]}";
        refused(many, "msr_modifiers", "257 entries, at most 256");
        assertThat(c.cpuTemplate().isNone()).isTrue();
    }

    @Test
    void staticTemplatesAreAllowedOnTheirVendorOnly() {
        for (String t : List.of("C3", "T2", "T2S", "T2CL")) {
            c.apply(new ConfigureMachine(new MachineConfiguration(1, 128, null, null, t, null)));
            assertThat(c.machine().cpuTemplate()).isEqualTo(t);
            assertThat(c.cpuTemplate()).isEqualTo(StaticCpuTemplate.valueOf(t).template());
        }
        assertThatThrownBy(() -> c.apply(new ConfigureMachine(new MachineConfiguration(1, 128, null, null, "T2A", null))))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.field()).isEqualTo("cpu_template"))
                .hasMessageContainingAll("cpu_template 'T2A'", "CPU vendor mismatched between actual CPU and CPU template",
                        "AuthenticAMD", "GenuineIntel");
        assertThatThrownBy(() -> c.apply(new ConfigureMachine(new MachineConfiguration(1, 128, null, null, "V1N1", null))))
                .hasMessageContaining("not one of C3, T2, T2S, T2CL, T2A, None");
        c.validation().hostCpu(AMD);
        c.apply(new ConfigureMachine(new MachineConfiguration(1, 128, null, null, "T2A", null)));
        assertThatThrownBy(() -> c.apply(new UpdateMachine(new MachineConfiguration(null, null, null, null, "C3", null))))
                .hasMessageContaining("C3 is for GenuineIntel hosts");
        assertThat(c.machine().cpuTemplate()).isEqualTo("T2A");
    }

    @Test
    void theTemplateConfiguredLastApplies() {
        c.apply(new ConfigureMachine(new MachineConfiguration(1, 128, null, null, "T2", null)));
        c.apply((ConfigureCpu) parse("PUT", "/cpu-config", DOC_EXAMPLE));
        assertThat(c.cpuTemplate().cpuid()).hasSize(1);
        assertThat(c.machine().cpuTemplate()).isNull(); // GET /machine-config leaves a custom template out
        // A machine-config without cpu_template keeps the custom template (Firecracker: MachineConfig::update).
        c.apply(new ConfigureMachine(new MachineConfiguration(2, 256, null, null, null, null)));
        assertThat(c.cpuTemplate().cpuid()).hasSize(1);
        c.apply(new UpdateMachine(new MachineConfiguration(null, null, null, null, "T2CL", null)));
        assertThat(c.cpuTemplate()).isEqualTo(StaticCpuTemplate.T2CL.template());
        c.apply(new ConfigureMachine(new MachineConfiguration(2, 256, null, null, null, null)));
        assertThat(c.machine().cpuTemplate()).isEqualTo("T2CL");
        c.apply((ConfigureCpu) parse("PUT", "/cpu-config", DOC_EXAMPLE));
        c.apply(new UpdateMachine(new MachineConfiguration(null, null, null, null, "None", null)));
        assertThat(c.cpuTemplate().isNone()).isTrue();
        assertThat(c.machine().cpuTemplate()).isNull();
    }

    @Test
    void configFileTakesCpuConfigInlineOrAsAPathAfterMachineConfig() throws Exception {
        Path kernel = StandInGuest.kernelFile(dir);
        Path tpl = Files.writeString(dir.resolve("tpl.json"), DOC_EXAMPLE);
        for (String section : List.of(DOC_EXAMPLE, "\"" + tpl + "\"")) {
            Path f = Files.writeString(dir.resolve("vm.json"), """
                    {"boot-source": {"kernel_image_path": "%s"},
                     "machine-config": {"vcpu_count": 1, "mem_size_mib": 128, "cpu_template": "T2"},
                     "cpu-config": %s}
                    """.formatted(kernel, section));
            List<VmmAction.Configure> actions = ConfigFile.actions(ConfigFile.read(f));
            assertThat(actions.get(0)).isInstanceOf(ConfigureMachine.class);
            assertThat(actions.get(1)).isInstanceOf(ConfigureCpu.class);
            VmConfiguration v = new VmConfiguration("f", new HostLimits(4, 8L << 30), OnReboot.EXIT,
                    new EventLog("test", new ByteArrayOutputStream(), null));
            v.validation().hostCpu(INTEL);
            actions.forEach(v::apply);
            assertThat(v.cpuTemplate().cpuid()).hasSize(1);
        }
        Path bad = Files.writeString(dir.resolve("bad.json"), """
                {"boot-source": {"kernel_image_path": "%s"}, "cpu-config": "%s"}
                """.formatted(kernel, dir.resolve("missing.json")));
        assertThatThrownBy(() -> ConfigFile.actions(ConfigFile.read(bad)))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.field()).isEqualTo("cpu-config"))
                .hasMessageContaining("cannot read");
    }
}
