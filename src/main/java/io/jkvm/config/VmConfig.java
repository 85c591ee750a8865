package io.jkvm.config;

import java.nio.file.Path;
import java.util.Optional;

/**
 * A validated description of one VM to boot (see {@link VmConfigValidator}). Immutable.
 *
 * @param kernel bzImage or ELF vmlinux
 * @param initrd optional initial ramdisk
 * @param cmdline kernel command line
 * @param cpus vCPU count
 * @param memoryBytes guest RAM
 * @param onReboot what a guest reboot does
 * @param nested expose VMX/SVM to the guest (nested virtualization; off unless asked for)
 * @param devices virtio devices
 * @param cpuTemplate CPU template applied to every vCPU's CPUID and boot MSRs ({@code CpuTemplate.NONE}: none)
 * @param virtioTransport how the virtio devices reach the guest (PCI unless asked otherwise)
 */
public record VmConfig(Path kernel, Optional<Path> initrd, String cmdline, int cpus, long memoryBytes,
                       OnReboot onReboot, boolean nested, DeviceConfig devices, VirtioTransport virtioTransport,
                       io.jkvm.arch.x86.cpuid.CpuTemplate cpuTemplate) {
    /** Serial console on COM1; keyboard-controller reset for reboot; reboot instead of hanging on panic. */
    public static final String DEFAULT_CMDLINE = "console=ttyS0 reboot=k panic=1";
    public static final int DEFAULT_CPUS = 1;
    public static final long DEFAULT_MEMORY = 512L << 20;

    public VmConfig {
        java.util.Objects.requireNonNull(kernel, "kernel");
        java.util.Objects.requireNonNull(initrd, "initrd");
        java.util.Objects.requireNonNull(cmdline, "cmdline");
        java.util.Objects.requireNonNull(onReboot, "onReboot");
        java.util.Objects.requireNonNull(devices, "devices");
        java.util.Objects.requireNonNull(virtioTransport, "virtioTransport");
        java.util.Objects.requireNonNull(cpuTemplate, "cpuTemplate");
    }

    /** No CPU template: the host's CPUID as KVM and CpuidBuilder give it. */
    public VmConfig(Path kernel, Optional<Path> initrd, String cmdline, int cpus, long memoryBytes,
                    OnReboot onReboot, boolean nested, DeviceConfig devices, VirtioTransport virtioTransport) {
        this(kernel, initrd, cmdline, cpus, memoryBytes, onReboot, nested, devices, virtioTransport,
                io.jkvm.arch.x86.cpuid.CpuTemplate.NONE);
    }

    /** Virtio devices on PCI. */
    public VmConfig(Path kernel, Optional<Path> initrd, String cmdline, int cpus, long memoryBytes,
                    OnReboot onReboot, boolean nested, DeviceConfig devices) {
        this(kernel, initrd, cmdline, cpus, memoryBytes, onReboot, nested, devices, VirtioTransport.PCI);
    }

    /** A VM without virtio devices. */
    public VmConfig(Path kernel, Optional<Path> initrd, String cmdline, int cpus, long memoryBytes,
                    OnReboot onReboot, boolean nested) {
        this(kernel, initrd, cmdline, cpus, memoryBytes, onReboot, nested, DeviceConfig.NONE);
    }

    public VmConfig withDevices(DeviceConfig d) {
        return new VmConfig(kernel, initrd, cmdline, cpus, memoryBytes, onReboot, nested, d, virtioTransport, cpuTemplate);
    }

    public VmConfig withVirtioTransport(VirtioTransport t) {
        return new VmConfig(kernel, initrd, cmdline, cpus, memoryBytes, onReboot, nested, devices, t, cpuTemplate);
    }

    /** The CPU template every vCPU's CPUID and boot MSRs get (machine-config cpu_template or PUT /cpu-config). */
    public VmConfig withCpuTemplate(io.jkvm.arch.x86.cpuid.CpuTemplate t) {
        return new VmConfig(kernel, initrd, cmdline, cpus, memoryBytes, onReboot, nested, devices, virtioTransport, t);
    }
}
