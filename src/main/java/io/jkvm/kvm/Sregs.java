package io.jkvm.kvm;

import static io.jkvm.kvm.KvmStructs.Sregs.*;

/** struct kvm_sregs: segment and descriptor-table registers, control registers, EFER, APIC base. */
public final class Sregs extends StructBuffer {
    /** One segment register (struct kvm_segment), as a value. */
    public record Seg(long base, int limit, int selector, int type, boolean present, int dpl, boolean db,
                      boolean s, boolean l, boolean g, boolean avl, boolean unusable) {}

    public Sregs() {
        super(KvmStructs.SREGS_SIZE);
    }

    public Sregs(byte[] raw) {
        super(raw);
    }

    public Seg segment(int off) {
        return new Seg(u64(off + KvmStructs.Segment.BASE), u32(off + KvmStructs.Segment.LIMIT),
                u16(off + KvmStructs.Segment.SELECTOR), u8(off + KvmStructs.Segment.TYPE),
                u8(off + KvmStructs.Segment.PRESENT) != 0, u8(off + KvmStructs.Segment.DPL),
                u8(off + KvmStructs.Segment.DB) != 0, u8(off + KvmStructs.Segment.S) != 0,
                u8(off + KvmStructs.Segment.L) != 0, u8(off + KvmStructs.Segment.G) != 0,
                u8(off + KvmStructs.Segment.AVL) != 0, u8(off + KvmStructs.Segment.UNUSABLE) != 0);
    }

    public void segment(int off, Seg s) {
        u64(off + KvmStructs.Segment.BASE, s.base());
        u32(off + KvmStructs.Segment.LIMIT, s.limit());
        u16(off + KvmStructs.Segment.SELECTOR, s.selector());
        u8(off + KvmStructs.Segment.TYPE, s.type());
        u8(off + KvmStructs.Segment.PRESENT, s.present() ? 1 : 0);
        u8(off + KvmStructs.Segment.DPL, s.dpl());
        u8(off + KvmStructs.Segment.DB, s.db() ? 1 : 0);
        u8(off + KvmStructs.Segment.S, s.s() ? 1 : 0);
        u8(off + KvmStructs.Segment.L, s.l() ? 1 : 0);
        u8(off + KvmStructs.Segment.G, s.g() ? 1 : 0);
        u8(off + KvmStructs.Segment.AVL, s.avl() ? 1 : 0);
        u8(off + KvmStructs.Segment.UNUSABLE, s.unusable() ? 1 : 0);
    }

    /** Sets CS, or DS/ES/FS/GS/SS (all the same) when {@code data}. */
    public void cs(Seg s) { segment(CS, s); }
    public Seg cs() { return segment(CS); }
    public void dataSegments(Seg s) {
        for (int off : new int[] {DS, ES, FS, GS, SS}) {
            segment(off, s);
        }
    }
    public void tr(Seg s) { segment(TR, s); }
    public void ldt(Seg s) { segment(LDT, s); }

    public void gdt(long base, int limit) {
        u64(GDT + KvmStructs.Dtable.BASE, base);
        u16(GDT + KvmStructs.Dtable.LIMIT, limit);
    }

    public void idt(long base, int limit) {
        u64(IDT + KvmStructs.Dtable.BASE, base);
        u16(IDT + KvmStructs.Dtable.LIMIT, limit);
    }

    public long cr0() { return u64(CR0); }
    public void cr0(long v) { u64(CR0, v); }
    public long cr2() { return u64(CR2); }
    public long cr3() { return u64(CR3); }
    public void cr3(long v) { u64(CR3, v); }
    public long cr4() { return u64(CR4); }
    public void cr4(long v) { u64(CR4, v); }
    public long efer() { return u64(EFER); }
    public void efer(long v) { u64(EFER, v); }
    public long apicBase() { return u64(APIC_BASE); }

    @Override
    public String toString() {
        Seg cs = cs();
        return String.format("cs=%04x(base=%x l=%b db=%b) cr0=%08x cr2=%016x cr3=%016x cr4=%08x efer=%x",
                cs.selector(), cs.base(), cs.l(), cs.db(), cr0(), cr2(), cr3(), cr4(), efer());
    }
}
