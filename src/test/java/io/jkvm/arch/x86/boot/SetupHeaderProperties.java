package io.jkvm.arch.x86.boot;

import static org.assertj.core.api.Assertions.assertThat;

import io.jkvm.arch.x86.TestMemory;
import io.jkvm.memory.GuestMemory;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;

/** Hostile input: whatever the bytes, parsing and loading fail only with KernelFormatException/BootException. */
class SetupHeaderProperties {
    private static final GuestMemory MEM = TestMemory.flat(8L << 20);

    @Property(tries = 500)
    void randomBytesOnlyEverFailCleanly(@ForAll @Size(max = 0x1400) byte[] bytes) {
        assertOnlyCleanFailure(bytes);
    }

    @Property(tries = 1000)
    void mutatedHeadersOnlyEverFailCleanly(@ForAll("mutatedImages") byte[] image) {
        assertOnlyCleanFailure(image);
    }

    @Provide
    Arbitrary<byte[]> mutatedImages() {
        byte[] base = new BzImageBuilder().build();
        Arbitrary<Integer> offsets = Arbitraries.integers().between(0x1f0, 0x270);
        Arbitrary<Byte> values = Arbitraries.bytes();
        Arbitrary<Integer> lengths = Arbitraries.integers().between(0, base.length);
        return Arbitraries.lazy(() -> offsets.list().ofMaxSize(8)
                .flatMap(offs -> values.list().ofSize(offs.size())
                        .flatMap(vals -> lengths.map(len -> {
                            byte[] img = base.clone();
                            for (int i = 0; i < offs.size(); i++) {
                                img[offs.get(i)] = vals.get(i);
                            }
                            return java.util.Arrays.copyOf(img, len);
                        }))));
    }

    private static void assertOnlyCleanFailure(byte[] image) {
        try {
            BzImageLoader.Loaded l = BzImageLoader.load(MEM, image, MEM.size());
            assertThat(l.entry64()).isEqualTo(0x100200);
            assertThat(l.kernelEnd()).isLessThanOrEqualTo(MEM.size());
            new BootParams(image, l.header()).toBytes();
        } catch (KernelFormatException e) {
            assertThat(e.getMessage()).isNotBlank();
        } catch (BootException e) {
            assertThat(e.getMessage()).contains("does not fit");
        }
    }
}
