package io.jkvm.api;

import io.jkvm.arch.x86.cpuid.CpuTemplate;
import io.jkvm.arch.x86.cpuid.CpuidBuilder;
import io.jkvm.arch.x86.cpuid.CpuidModifier;
import io.jkvm.arch.x86.cpuid.MsrModifier;
import io.jkvm.arch.x86.cpuid.StaticCpuTemplate;
import io.jkvm.kvm.CpuidEntry;
import io.jkvm.kvm.Kvm;

import java.util.Arrays;
import java.util.List;
import java.util.function.IntPredicate;

/**
 * What this host's KVM offers a CPU template: its CPUID (vendor from leaf 0, the leaves a
 * modifier may touch), the MSRs it saves (KVM_GET_MSR_INDEX_LIST) and its capabilities. Read
 * from /dev/kvm once, when a template is first checked; tests give fixed answers.
 */
record HostCpu(List<CpuidEntry> cpuid, int[] msrs, IntPredicate capability) {
    HostCpu {
        cpuid = List.copyOf(cpuid);
        msrs = msrs.clone();
    }

    /** This host, asked once. */
    static HostCpu fromKvm() {
        try (Kvm kvm = Kvm.open()) {
            return read(kvm);
        } catch (RuntimeException e) {
            throw ApiException.badRequest("cannot check the CPU template against this host: /dev/kvm: " + e.getMessage());
        }
    }

    private static HostCpu read(Kvm kvm) {
        List<CpuidEntry> cpuid = kvm.supportedCpuid();
        int[] msrs = kvm.msrIndexList();
        int[] caps = new int[512];
        for (int i = 0; i < caps.length; i++) {
            caps[i] = kvm.checkExtension(i);
        }
        return new HostCpu(cpuid, msrs, c -> c >= 0 && c < caps.length && caps[c] > 0);
    }

    String vendor() {
        return StaticCpuTemplate.hostVendor(cpuid);
    }

    /** A static template named in {@code cpu_template}, refused on the other vendor's host. */
    void checkVendor(StaticCpuTemplate t) {
        if (!t.vendor().id().equals(vendor())) {
            throw ApiException.badField("cpu_template", "cpu_template '" + t.name()
                    + "': CPU vendor mismatched between actual CPU and CPU template (" + t.name() + " is for "
                    + t.vendor().id() + " hosts, this host is " + (vendor().isEmpty() ? "unknown" : vendor()) + ")");
        }
    }

    /**
     * A template this host can apply: every CPUID leaf/subleaf it changes is one the guest gets
     * (KVM's list as CpuidBuilder shapes it), every MSR one KVM knows, every capability present.
     * Firecracker refuses the same at InstanceStart; refusing at PUT names the field sooner.
     */
    void check(CpuTemplate t) {
        CpuidModifier m = t.firstUnsupported(new CpuidBuilder(cpuid, false).forVcpu(0, 1));
        if (m != null) {
            throw ApiException.badField("cpuid_modifiers", String.format(
                    "cpuid_modifiers: Template changes a CPUID entry not supported by KVM: Leaf: %#x, Subleaf: %#x",
                    m.leaf(), m.subleaf()));
        }
        for (MsrModifier msr : t.msrs()) {
            if (Arrays.stream(msrs).noneMatch(i -> i == msr.addr())) {
                throw ApiException.badField("msr_modifiers", String.format(
                        "msr_modifiers: Template changes an MSR entry not supported by KVM: Register Address: %#x",
                        msr.addr()));
            }
        }
        for (int cap : t.kvmCapabilities()) {
            if (!capability.test(cap)) {
                throw ApiException.badField("kvm_capabilities", "kvm_capabilities: this host's KVM lacks capability "
                        + cap + " (KVM_CHECK_EXTENSION)");
            }
        }
    }
}
