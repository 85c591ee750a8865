package io.jkvm.arch.x86.cpu;

/** One MSR to set, as struct kvm_msr_entry (index, data). */
public record MsrEntry(int index, long value) {
    @Override
    public String toString() {
        return String.format("MsrEntry[0x%x=0x%x]", index, value);
    }
}
