/**
 * VM snapshots: save a paused machine's complete state and restore it into a new machine,
 * possibly in another process. Entry point: {@link io.jkvm.snapshot.Snapshots}.
 *
 * <h2>What is saved</h2>
 * {@link io.jkvm.snapshot.VmState}: the machine configuration (vCPUs, memory size, irqchip); per
 * vCPU regs, sregs, FPU, XSAVE, XCRs, the MSRs of KVM_GET_MSR_INDEX_LIST that KVM_GET_MSRS can
 * read, LAPIC, vCPU events, MP state, debug registers and CPUID; the PIC master/slave and IOAPIC
 * (KVM_GET_IRQCHIP), the PIT (KVM_GET_PIT2) and kvmclock (KVM_GET_CLOCK). Userspace devices add
 * {@link io.jkvm.snapshot.DeviceState}s (name + bytes; the 16550 via
 * {@link io.jkvm.snapshot.SerialDeviceState}). Guest RAM goes to a separate memory file.
 *
 * <p>Before a paused vCPU parks, {@code Machine} completes the last exit's pending operation
 * (KVM_RUN with immediate_exit, api.rst "KVM_RUN"), so an IN/MMIO read interrupted by the pause
 * is not lost or repeated.
 *
 * <h2>Files</h2>
 * State file: {@link io.jkvm.snapshot.SnapshotFile} (magic "JKVMSNAP", version, protection, key
 * id, JSON header with configuration, memory-file length + MAC and section directory, payload
 * sections "kvm" ({@link io.jkvm.snapshot.StateCodec}) and "device/NAME", trailing
 * HMAC-SHA256). Memory file: raw RAM regions back to back (mapped MAP_PRIVATE on restore), or
 * 1 MiB AES-GCM chunks when encrypted. The memory file's MAC in the authenticated state header
 * binds the two files. The "kvm" section encoding is self-contained so live migration can send
 * it as is.
 *
 * <h2>Restore order</h2>
 * See {@link io.jkvm.snapshot.KvmStateRestore}: CPUID; irqchip, PIT, clock; then per vCPU MP
 * state, sregs, regs, FPU, XSAVE, XCRs, LAPIC, MSRs, events, debug registers, KVMCLOCK_CTRL.
 *
 * <h2>Hostile input</h2>
 * Every length and count is bounded before allocation; the MAC is checked before the header is
 * parsed; the only exception for bad input is {@link io.jkvm.snapshot.SnapshotException}, whose
 * message names the file and the problem.
 */
package io.jkvm.snapshot;
