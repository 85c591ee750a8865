package io.jkvm.vmm.diag;

import io.jkvm.kvm.KvmStructs;
import io.jkvm.kvm.StructBuffer;

/**
 * Events KVM holds for a vCPU outside the architectural registers, decoded from struct
 * kvm_vcpu_events (KVM_GET_VCPU_EVENTS, api.rst 4.31; offsets from asm/kvm.h): an exception or
 * interrupt being injected, an NMI pending or masked, an SMI, the interrupt shadow (STI/MOV SS).
 */
public record VcpuEvents(boolean exceptionInjected, boolean exceptionPending, int exceptionVector,
        boolean exceptionHasErrorCode, int exceptionErrorCode,
        boolean interruptInjected, int interruptVector, boolean interruptSoft, int interruptShadow,
        boolean nmiInjected, boolean nmiPending, boolean nmiMasked,
        int sipiVector, int flags, boolean smiPending, boolean inSmm, boolean latchedInit,
        boolean tripleFaultPending) {

    static final int EXCEPTION = 0, INTERRUPT = 8, NMI = 12, SIPI_VECTOR = 16, FLAGS = 20, SMI = 24, TRIPLE_FAULT = 28;

    public static VcpuEvents decode(byte[] raw) {
        if (raw.length != KvmStructs.VCPU_EVENTS_SIZE) {
            throw new IllegalArgumentException("kvm_vcpu_events must be " + KvmStructs.VCPU_EVENTS_SIZE + " bytes, got " + raw.length);
        }
        StructBuffer b = new StructBuffer(raw);
        return new VcpuEvents(b.u8(EXCEPTION) != 0, b.u8(EXCEPTION + 3) != 0, b.u8(EXCEPTION + 1),
                b.u8(EXCEPTION + 2) != 0, b.u32(EXCEPTION + 4),
                b.u8(INTERRUPT) != 0, b.u8(INTERRUPT + 1), b.u8(INTERRUPT + 2) != 0, b.u8(INTERRUPT + 3),
                b.u8(NMI) != 0, b.u8(NMI + 1) != 0, b.u8(NMI + 2) != 0,
                b.u32(SIPI_VECTOR), b.u32(FLAGS), b.u8(SMI + 1) != 0, b.u8(SMI) != 0, b.u8(SMI + 3) != 0,
                b.u8(TRIPLE_FAULT) != 0);
    }

    /** True when nothing is being injected or pending. */
    public boolean quiet() {
        return !exceptionInjected && !exceptionPending && !interruptInjected && !nmiInjected && !nmiPending
                && !smiPending && !latchedInit && !tripleFaultPending;
    }
}
