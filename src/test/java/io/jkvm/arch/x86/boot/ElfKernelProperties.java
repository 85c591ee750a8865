package io.jkvm.arch.x86.boot;

import static org.assertj.core.api.Assertions.assertThat;

import io.jkvm.arch.x86.TestMemory;
import io.jkvm.memory.GuestMemory;
import java.util.Arrays;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;

/** Hostile ELF input: parse + load either succeed inside guest RAM or fail with KernelFormatException/BootException. */
class ElfKernelProperties {
    private static final GuestMemory MEM = TestMemory.flat(20L << 20);

    @Property(tries = 500)
    void randomBytesOnlyEverFailCleanly(@ForAll @Size(max = 1024) byte[] bytes) {
        assertOnlyCleanFailure(bytes);
    }

    @Property(tries = 500)
    void randomBytesAfterElfMagicOnlyEverFailCleanly(@ForAll @Size(min = 4, max = 1024) byte[] bytes) {
        bytes[0] = 0x7f;
        bytes[1] = 'E';
        bytes[2] = 'L';
        bytes[3] = 'F';
        assertOnlyCleanFailure(bytes);
    }

    @Property(tries = 1500)
    void mutatedElfOnlyEverFailsCleanly(@ForAll("mutatedElfs") byte[] file) {
        assertOnlyCleanFailure(file);
    }

    @Provide
    Arbitrary<byte[]> mutatedElfs() {
        byte[] base = new ElfBuilder()
                .load(0x100_0000, new byte[256], 0x1000)
                .load(0x100_2000, new byte[128], 0x200)
                .build();
        Arbitrary<Integer> offsets = Arbitraries.integers().between(0, 64 + 3 * 56 + 64);
        Arbitrary<Integer> lengths = Arbitraries.integers().between(0, base.length);
        return offsets.list().ofMaxSize(10).flatMap(offs -> Arbitraries.bytes().list().ofSize(offs.size())
                .flatMap(vals -> lengths.map(len -> {
                    byte[] f = base.clone();
                    for (int i = 0; i < offs.size(); i++) {
                        f[offs.get(i)] = vals.get(i);
                    }
                    return Arrays.copyOf(f, len);
                })));
    }

    private static void assertOnlyCleanFailure(byte[] file) {
        try {
            ElfKernel k = ElfKernel.parse(file);
            k.load(MEM, file, MEM.size());
            assertThat(k.end()).isLessThanOrEqualTo(MEM.size());
            k.requirePvhEntry();
        } catch (KernelFormatException e) {
            assertThat(e.getMessage()).isNotBlank();
        } catch (BootException e) {
            assertThat(e.getMessage()).contains("beyond guest RAM");
        }
    }
}
