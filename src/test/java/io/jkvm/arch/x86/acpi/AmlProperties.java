package io.jkvm.arch.x86.acpi;

import static org.assertj.core.api.Assertions.assertThat;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

class AmlProperties {
    @Property(tries = 300)
    void pkgLengthRoundTrips(@ForAll @IntRange(min = 0, max = (1 << 28) - 1) int v) {
        assertThat(AmlDecoder.decodePkgLength(Aml.pkgLength(v))).isEqualTo(v);
    }

    @Property(tries = 300)
    void withPkgLengthPrefixDecodesToTotalSize(@ForAll @IntRange(min = 0, max = 70_000) int body) {
        byte[] enc = Aml.withPkgLength(new byte[body]);
        int n = enc.length - body;
        byte[] len = java.util.Arrays.copyOf(enc, n);
        assertThat(AmlDecoder.decodePkgLength(len)).isEqualTo(enc.length);
        assertThat(n).isEqualTo(body + 1 <= 63 ? 1 : body + 2 <= 4095 ? 2 : 3);
    }
}
