package io.jkvm.arch.x86.cpu;

/** GDTR/IDTR contents, as struct kvm_dtable: linear base and byte limit (size - 1). */
public record DescriptorTable(long base, int limit) {}
