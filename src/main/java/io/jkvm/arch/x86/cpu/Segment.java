package io.jkvm.arch.x86.cpu;

/**
 * A segment register's visible selector plus its hidden descriptor cache, field for field as
 * struct kvm_segment (asm/kvm.h) so the KVM layer can copy it straight into kvm_sregs.
 * Attribute meanings: Intel SDM Vol. 3A §3.4.5 "Segment Descriptors".
 *
 * @param limit the effective byte limit (already scaled when {@code g})
 * @param type the 4-bit descriptor type (e.g. 0xB execute/read accessed code, 0x3 read/write
 *     accessed data, 0xB busy TSS for a system segment, 0x2 LDT)
 * @param s code/data (true) vs system (false) segment
 * @param db default operation size 32-bit (must be false for 64-bit code)
 * @param l 64-bit code segment
 * @param g limit is in 4 KiB units
 * @param unusable the VMX "segment unusable" attribute (kvm_segment.unusable)
 */
public record Segment(
        long base,
        long limit,
        int selector,
        int type,
        boolean present,
        int dpl,
        boolean db,
        boolean s,
        boolean l,
        boolean g,
        boolean avl,
        boolean unusable) {

    /**
     * Decodes the 8-byte GDT descriptor {@code desc} as the CPU would load it with {@code selector},
     * so register state and the in-memory GDT cannot disagree.
     */
    public static Segment fromDescriptor(long desc, int selector) {
        long base = ((desc >>> 16) & 0xff_ffffL) | ((desc >>> 56) & 0xffL) << 24;
        long rawLimit = (desc & 0xffffL) | ((desc >>> 48) & 0xfL) << 16;
        int access = (int) ((desc >>> 40) & 0xff);
        int flags = (int) ((desc >>> 52) & 0xf);
        boolean g = (flags & 0x8) != 0;
        return new Segment(
                base,
                g ? (rawLimit << 12) | 0xfff : rawLimit,
                selector,
                access & 0xf,
                (access & 0x80) != 0,
                (access >>> 5) & 0x3,
                (flags & 0x4) != 0,
                (access & 0x10) != 0,
                (flags & 0x2) != 0,
                g,
                (flags & 0x1) != 0,
                false);
    }
}
