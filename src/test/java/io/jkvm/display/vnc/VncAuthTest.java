package io.jkvm.display.vnc;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HexFormat;
import org.junit.jupiter.api.Test;

class VncAuthTest {
    private static final HexFormat HEX = HexFormat.of();

    @Test
    void keyIsTheFirstEightBytesWithEachByteBitReversed() {
        // 'p' 0x70 = 0111 0000 -> 0000 1110; 'a' 0x61 = 0110 0001 -> 1000 0110; 's' 0x73 -> 0xce ...
        assertThat(HEX.formatHex(VncAuth.key("password123"))).isEqualTo("0e86cece eef6 4e26".replace(" ", ""));
        assertThat(VncAuth.key("ab")).containsExactly(0x86, 0x46, 0, 0, 0, 0, 0, 0);
    }

    @Test
    void responseIsDesEcbUnderTheReversedKey() {
        // The classic DES example (key 133457799BBCDFF1, plaintext 0123456789ABCDEF, ciphertext
        // 85E813540F0AB405): a password whose bytes are the key's bytes bit-reversed makes that key.
        byte[] key = VncAuth.key(HEX.parseHex("c82cea9ed93dfb8f"));
        assertThat(HEX.formatHex(key)).isEqualTo("133457799bbcdff1");
        byte[] challenge = HEX.parseHex("0123456789abcdef0123456789abcdef");
        assertThat(HEX.formatHex(VncAuth.response(key, challenge))).isEqualTo("85e813540f0ab40585e813540f0ab405");
        assertThat(VncAuth.check(key, challenge, HEX.parseHex("85e813540f0ab40585e813540f0ab405"))).isTrue();
        assertThat(VncAuth.check(key, challenge, HEX.parseHex("85e813540f0ab40585e813540f0ab404"))).isFalse();
        assertThat(VncAuth.check(key, challenge, new byte[15])).isFalse();
    }

    @Test
    void onlyTheFirstEightBytesCount() {
        assertThat(VncAuth.key("12345678")).isEqualTo(VncAuth.key("123456789"));
    }
}
