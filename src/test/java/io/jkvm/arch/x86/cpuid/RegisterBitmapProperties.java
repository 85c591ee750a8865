package io.jkvm.arch.x86.cpuid;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Bitmap text from 0/1/x characters: parsing keeps each character's meaning at its bit, the text
 * form round-trips, and applying sets exactly the fixed bits and keeps every x bit.
 */
class RegisterBitmapProperties {
    @Provide
    Arbitrary<String> bits32() {
        return Arbitraries.strings().withChars('0', '1', 'x').ofLength(32);
    }

    @Provide
    Arbitrary<String> bits64() {
        return Arbitraries.strings().withChars('0', '1', 'x').ofLength(64);
    }

    @Property(tries = 500)
    void applyingSetsExactlyTheFixedBits32(@ForAll("bits32") String bits, @ForAll int register) {
        RegisterBitmap b = RegisterBitmap.parse("0b" + bits, 32);
        int out = b.apply(register);
        for (int i = 0; i < 32; i++) {
            char c = bits.charAt(31 - i);
            int bit = out >>> i & 1;
            switch (c) {
                case '0' -> assertThat(bit).isZero();
                case '1' -> assertThat(bit).isOne();
                default -> assertThat(bit).isEqualTo(register >>> i & 1);
            }
        }
        assertThat(b.text()).isEqualTo("0b" + bits);
    }

    @Property(tries = 500)
    void applyingSetsExactlyTheFixedBits64(@ForAll("bits64") String bits, @ForAll long register) {
        RegisterBitmap b = RegisterBitmap.parse("0b" + bits, 64);
        long out = b.apply(register);
        for (int i = 0; i < 64; i++) {
            char c = bits.charAt(63 - i);
            long bit = out >>> i & 1;
            long expected = c == '0' ? 0 : c == '1' ? 1 : register >>> i & 1;
            assertThat(bit).isEqualTo(expected);
        }
        assertThat(b.apply(b.apply(register))).isEqualTo(out); // idempotent
        assertThat(b.text()).isEqualTo("0b" + bits);
    }

    @Property(tries = 200)
    void separatorsAndContractionChangeNothing(@ForAll("bits32") String bits, @ForAll int register) {
        String trimmed = bits.replaceFirst("^x+", "");
        if (trimmed.isEmpty()) {
            trimmed = "x";
        }
        StringBuilder sep = new StringBuilder();
        for (int i = 0; i < trimmed.length(); i++) {
            sep.append(trimmed.charAt(i));
            if (i % 4 == 3) {
                sep.append('_');
            }
        }
        assertThat(RegisterBitmap.parse("0b" + sep, 32)).isEqualTo(RegisterBitmap.parse("0b" + bits, 32));
    }

    @Property(tries = 200)
    void tooManyBitsOrOtherCharactersAreRefused(@ForAll("bits32") String bits, @ForAll("bad") char bad) {
        assertThatThrownBy(() -> RegisterBitmap.parse("0b0" + bits, 32)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("more than 32 bits");
        assertThatThrownBy(() -> RegisterBitmap.parse("0b" + bits.substring(1) + bad, 32))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not one of 0, 1, x");
    }

    @Provide
    Arbitrary<Character> bad() {
        return Arbitraries.chars().filter(c -> c != '0' && c != '1' && c != 'x' && c != '_');
    }
}
