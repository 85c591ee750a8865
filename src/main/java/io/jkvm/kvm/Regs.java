package io.jkvm.kvm;

import static io.jkvm.kvm.KvmStructs.Regs.*;

/** struct kvm_regs: general-purpose registers, RIP and RFLAGS. */
public final class Regs extends StructBuffer {
    public Regs() {
        super(KvmStructs.REGS_SIZE);
    }

    public Regs(byte[] raw) {
        super(raw);
    }

    public long rax() { return u64(RAX); }
    public void rax(long v) { u64(RAX, v); }
    public long rbx() { return u64(RBX); }
    public void rbx(long v) { u64(RBX, v); }
    public long rcx() { return u64(RCX); }
    public void rcx(long v) { u64(RCX, v); }
    public long rdx() { return u64(RDX); }
    public void rdx(long v) { u64(RDX, v); }
    public long rsi() { return u64(RSI); }
    public void rsi(long v) { u64(RSI, v); }
    public long rdi() { return u64(RDI); }
    public void rdi(long v) { u64(RDI, v); }
    public long rsp() { return u64(RSP); }
    public void rsp(long v) { u64(RSP, v); }
    public long rbp() { return u64(RBP); }
    public void rbp(long v) { u64(RBP, v); }
    public long rip() { return u64(RIP); }
    public void rip(long v) { u64(RIP, v); }
    public long rflags() { return u64(RFLAGS); }
    public void rflags(long v) { u64(RFLAGS, v); }

    /** Register dump for crash reports. */
    @Override
    public String toString() {
        return String.format(
                "rip=%016x rsp=%016x rflags=%08x%n rax=%016x rbx=%016x rcx=%016x rdx=%016x%n rsi=%016x rdi=%016x rbp=%016x",
                rip(), rsp(), rflags(), rax(), rbx(), rcx(), rdx(), rsi(), rdi(), rbp());
    }
}
