/**
 * VM snapshots: save a paused machine's complete state and restore it into a new machine,
 * possibly in another process. Entry point: {@link io.jkvm.snapshot.Snapshots}.
 *
 * <h2>What is saved</h2>
 * {@link io.jkvm.snapshot.VmState}: the machine configuration (vCPUs, memory size, irqchip); per
 * vCPU regs, sregs, FPU, XSAVE, XCRs, the MSRs of KVM_GET_MSR_INDEX_LIST that KVM_GET_MSRS can
 * read, LAPIC, vCPU events, MP state, debug registers and CPUID; the PIC master/slave and IOAPIC
 * (KVM_GET_IRQCHIP), the PIT (KVM_GET_PIT2) and kvmclock (KVM_GET_CLOCK). Userspace devices add
 * {@link io.jkvm.snapshot.DeviceState}s (name + bytes). Guest RAM goes to a separate memory file.
 *
 * <h2>Device states of a Linux VM</h2>
 * {@code io.jkvm.vmm.LinuxVm#captureDeviceStates} produces, in order: {@code vm_config}
 * ({@link io.jkvm.snapshot.VmConfigState}: kernel, command line, vCPUs, memory, disks, TAPs and
 * MACs, so a restore re-opens the same devices and refuses a different layout), {@code serial0}
 * ({@link io.jkvm.snapshot.SerialDeviceState}), {@code i8042}
 * ({@link io.jkvm.snapshot.I8042DeviceState}), {@code rtc}
 * ({@link io.jkvm.snapshot.CmosRtcDeviceState}), {@code acpi_pm}
 * ({@link io.jkvm.snapshot.AcpiPmDeviceState}), {@code pci_host}
 * ({@link io.jkvm.snapshot.PciHostDeviceState}) and one {@code virtioN} per virtio-pci function
 * in slot order ({@link io.jkvm.snapshot.VirtioPciDeviceState}: config space, MSI-X, transport
 * registers, queue positions and the device model's own bytes). Every encoding starts with a
 * version byte, bounds every count before allocating, and is refused (SnapshotException naming
 * the device and field) when malformed; values that depend on the target device - read-only
 * config-space bits, queue sizes, vectors, ring addresses in guest RAM, the used index the
 * driver sees - are checked when applied. Virtio I/O is suspended before capture: the request in
 * progress completes into the used ring, nothing else starts, disks are fsync'd. Applying a
 * virtio-pci state maps the BAR (ioeventfds) and re-programs the MSI routes (irqfds).
 *
 * <p>Before a paused vCPU parks, {@code Machine} completes the last exit's pending operation
 * (KVM_RUN with immediate_exit, api.rst "KVM_RUN"), so an IN/MMIO read interrupted by the pause
 * is not lost or repeated.
 *
 * <h2>Files</h2>
 * State file: {@link io.jkvm.snapshot.SnapshotFile} (magic "JKVMSNAP", version, protection, key
 * id, JSON header with configuration, memory-file length + MAC and section directory, payload
 * sections "kvm" ({@link io.jkvm.snapshot.KvmStateCodec}) and "device/NAME", trailing
 * HMAC-SHA256). Memory file: raw RAM regions back to back (mapped MAP_PRIVATE on restore), or
 * 1 MiB AES-GCM chunks when encrypted. The memory file's MAC in the authenticated state header
 * binds the two files. The "kvm" section encoding is self-contained so live migration can send
 * it as is.
 *
 * <h2>Diff snapshots</h2>
 * Firecracker's snapshot_type "Diff" ({@link io.jkvm.snapshot.Snapshots#saveDiff}): the machine
 * tracks dirty pages ({@code io.jkvm.vmm.DirtyTracker}: KVM_GET_DIRTY_LOG, api.rst 4.8, plus
 * pages VMM devices wrote). The memory file is as long as RAM but only the dirty pages since
 * the previous snapshot are written ({@link io.jkvm.snapshot.DiffFile}). The state header has
 * kind "diff", the page runs ({@link io.jkvm.snapshot.DirtyRuns}: bounded, aligned, inside RAM,
 * sorted, disjoint), the diff's length and MAC, and as its memory record the length and MAC of
 * all RAM at the snapshot: {@link io.jkvm.snapshot.DiffMerge} checks the diff before copying its
 * pages onto the base, and the merged file then loads exactly like a Full memory file. Files
 * without a kind (written before Diffs existed) are Full; the format version is unchanged.
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
