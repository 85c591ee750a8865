package io.jkvm.arch.x86.cpuid;

/**
 * A CPU template's bitmap for one register of {@code width} bits (32 for a CPUID register, 64 for
 * an MSR): {@code mask} holds the bits the template fixes, {@code value} what they are fixed to.
 * Applying it keeps every bit outside {@code mask} and forces the ones inside.
 *
 * <p>The text form is Firecracker's (docs/cpu_templates/cpu-templates.md and schema.json):
 * {@code 0b} then, most significant bit first, {@code 0} (clear), {@code 1} (set) or {@code x}
 * (leave as the host has it), with {@code _} allowed as a separator; a shorter string is
 * "contracted", its missing leading characters read as {@code x}.
 */
public record RegisterBitmap(int width, long mask, long value) {
    public RegisterBitmap {
        if (width != 32 && width != 64) {
            throw new IllegalArgumentException("bitmap width " + width + ": must be 32 or 64");
        }
        long all = width == 64 ? -1L : (1L << width) - 1;
        if ((mask & ~all) != 0 || (value & ~mask) != 0) {
            throw new IllegalArgumentException("bitmap value outside its mask or width");
        }
    }

    /**
     * Parses Firecracker's bitmap text; {@link IllegalArgumentException} says what is wrong (the
     * caller names the leaf/register or MSR). The text is bounded by the API's body limit; a
     * string with more than {@code width} bit characters is refused as it is read.
     */
    public static RegisterBitmap parse(String text, int width) {
        if (text == null) {
            throw new IllegalArgumentException("missing bitmap");
        }
        if (!text.startsWith("0b")) {
            throw new IllegalArgumentException("bitmap '" + abbreviate(text) + "' must start with 0b");
        }
        long mask = 0;
        long value = 0;
        int bit = 0;
        for (int i = text.length() - 1; i >= 2; i--) {
            char c = text.charAt(i);
            if (c == '_') {
                continue;
            }
            if (bit == width) {
                throw new IllegalArgumentException("bitmap '" + abbreviate(text) + "' has more than " + width + " bits");
            }
            switch (c) {
                case '0' -> mask |= 1L << bit;
                case '1' -> {
                    mask |= 1L << bit;
                    value |= 1L << bit;
                }
                case 'x' -> { }
                default -> throw new IllegalArgumentException("bitmap '" + abbreviate(text) + "': '" + c
                        + "' is not one of 0, 1, x, _");
            }
            bit++;
        }
        if (bit == 0) {
            throw new IllegalArgumentException("bitmap '" + abbreviate(text) + "' has no bits");
        }
        return new RegisterBitmap(width, mask, value);
    }

    /** {@code register} with the fixed bits forced and the others kept. */
    public long apply(long register) {
        return (register & ~mask) | value;
    }

    public int apply(int register) {
        return (int) apply(register & 0xffffffffL);
    }

    /** The full-width text form, as Firecracker writes a template back. */
    public String text() {
        StringBuilder s = new StringBuilder(width + 2).append("0b");
        for (int i = width - 1; i >= 0; i--) {
            s.append((mask >>> i & 1) == 0 ? 'x' : (value >>> i & 1) == 0 ? '0' : '1');
        }
        return s.toString();
    }

    private static String abbreviate(String s) {
        return s.length() > 80 ? s.substring(0, 80) + "..." : s;
    }
}
