package io.jkvm.api;

import io.jkvm.config.ConfigException;
import io.jkvm.config.HostLimits;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VmConfig;
import io.jkvm.config.VmConfigValidator;

import java.nio.file.Path;

/**
 * The machine against this host's limits (vCPUs KVM allows, host RAM) and the whole boot
 * configuration through the same {@link VmConfigValidator} as {@code jkvm run}, with API field
 * names in its messages.
 */
final class BootValidation {
    static final VmConfigValidator.FieldNames API_FIELDS = new VmConfigValidator.FieldNames(
            "kernel_image_path", "initrd_path", "boot_args", "vcpu_count", "mem_size_mib");

    private final HostLimits limits;
    private final OnReboot onReboot;
    /** Why guest RAM of that many bytes cannot come from the host's hugetlb pool (null: it can); tests replace it. */
    private java.util.function.LongFunction<String> hugePagePool = io.jkvm.memory.HugePagePool::shortfall;
    private HostCpu hostCpu;

    BootValidation(HostLimits limits, OnReboot onReboot) {
        this.limits = limits;
        this.onReboot = onReboot;
    }

    HostLimits limits() {
        return limits;
    }

    /** This host's CPU as KVM presents it (read from /dev/kvm when a CPU template is first checked). */
    synchronized HostCpu hostCpu() {
        if (hostCpu == null) {
            hostCpu = HostCpu.fromKvm();
        }
        return hostCpu;
    }

    /** For tests: a host whose KVM answers as {@code cpu} does. */
    synchronized void hostCpu(HostCpu cpu) {
        hostCpu = cpu;
    }

    /** For tests: a host whose hugetlb pool answers as {@code pool} does. */
    void hugePagePool(java.util.function.LongFunction<String> pool) {
        hugePagePool = pool;
    }

    /** The machine alone: sizes within this host's, and only the settings jkvm honours. */
    void checkMachine(MachineConfiguration m) {
        int maxVcpus = Math.min(32, limits.maxVcpus());
        if (m.vcpuCount() < 1 || m.vcpuCount() > maxVcpus) {
            throw ApiException.badField("vcpu_count", "vcpu_count " + m.vcpuCount() + ": must be between 1 and " + maxVcpus);
        }
        if (m.memSizeMib() < VmConfigValidator.MIN_MEMORY >> 20) {
            throw ApiException.badField("mem_size_mib", "mem_size_mib " + m.memSizeMib() + ": too small, the minimum is "
                    + (VmConfigValidator.MIN_MEMORY >> 20));
        }
        if ((long) m.memSizeMib() << 20 > limits.hostMemoryBytes()) {
            throw ApiException.badField("mem_size_mib", "mem_size_mib " + m.memSizeMib() + ": more than this host's "
                    + (limits.hostMemoryBytes() >> 20) + " MiB of RAM");
        }
        if (Boolean.TRUE.equals(m.smt())) {
            throw ApiException.badField("smt", "smt: simultaneous multithreading is not supported (use false)");
        }
        if (m.cpuTemplate() != null && !m.cpuTemplate().equals("None")) {
            io.jkvm.arch.x86.cpuid.StaticCpuTemplate t = io.jkvm.arch.x86.cpuid.StaticCpuTemplate.byName(m.cpuTemplate());
            if (t == null) {
                throw ApiException.badField("cpu_template", "cpu_template '" + m.cpuTemplate()
                        + "': not one of C3, T2, T2S, T2CL, T2A, None (V1N1 is for aarch64 hosts)");
            }
            hostCpu().checkVendor(t);
        }
        Fields.checkOneOf("huge_pages", m.hugePages(), "None", "2M", "Transparent");
        if (io.jkvm.memory.RamBacking.fromApi(m.hugePages()) == io.jkvm.memory.RamBacking.HUGETLB_2M) {
            if (m.memSizeMib() % 2 != 0) {
                throw ApiException.badField("mem_size_mib", "mem_size_mib " + m.memSizeMib()
                        + ": guest RAM on 2 MiB pages (huge_pages 2M) must be a multiple of 2 MiB");
            }
            String why = hugePagePool.apply((long) m.memSizeMib() << 20);
            if (why != null) {
                throw ApiException.badField("huge_pages", "huge_pages 2M: " + why);
            }
        }
    }

    /** The whole boot configuration: the machine, then kernel, initrd and command line. */
    VmConfig validate(BootSource b, MachineConfiguration m) {
        checkMachine(m);
        Path kernel = HostPaths.usable(API_FIELDS.kernel(), b.kernelImagePath());
        Path initrd = b.initrdPath() == null ? null : HostPaths.usable(API_FIELDS.initrd(), b.initrdPath());
        try {
            String cmdline = b.bootArgs() == null ? VmConfig.DEFAULT_CMDLINE : b.bootArgs();
            return new VmConfigValidator(limits).validate(API_FIELDS, kernel, initrd, cmdline,
                    m.vcpuCount(), m.memSizeMib() + "M", onReboot, false);
        } catch (ConfigException e) {
            throw ApiException.badRequest(e.getMessage());
        }
    }
}
