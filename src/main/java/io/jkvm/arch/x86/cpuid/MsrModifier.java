package io.jkvm.arch.x86.cpuid;

/** A template's change to one model-specific register (Intel SDM Vol. 4 numbers them). */
public record MsrModifier(int addr, RegisterBitmap bitmap) {
    public MsrModifier {
        if (bitmap.width() != 64) {
            throw new IllegalArgumentException("an MSR bitmap has 64 bits");
        }
    }
}
