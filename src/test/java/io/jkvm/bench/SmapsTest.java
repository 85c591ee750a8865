package io.jkvm.bench;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class SmapsTest {
    /** Trimmed from a real jkvm process: libjvm, the JVM's heap, guest RAM (shared anonymous), a stack. */
    static final String JKVM = """
            55d0c0a00000-55d0c0a01000 r--p 00000000 fe:00 123 /usr/lib/jvm/temurin-25-jdk-amd64/bin/java
            Size:                  4 kB
            Rss:                   4 kB
            Pss:                   2 kB
            Private_Clean:         0 kB
            Anonymous:             0 kB
            7f0000000000-7f0008000000 rw-s 00000000 00:01 5678                       /dev/zero (deleted)
            Size:             131072 kB
            KernelPageSize:        4 kB
            Rss:              130112 kB
            Pss:              130112 kB
            Anonymous:             0 kB
            VmFlags: rd wr sh mr mw me ms sd
            7f1000000000-7f1010000000 rw-p 00000000 00:00 0
            Size:             262144 kB
            Rss:                8192 kB
            Pss:                8192 kB
            Anonymous:          8192 kB
            7f2000000000-7f2001400000 r-xp 00000000 fe:00 999 /usr/lib/jvm/temurin-25-jdk-amd64/lib/server/libjvm.so
            Size:              20480 kB
            Rss:               15960 kB
            Pss:                6000 kB
            Anonymous:           100 kB
            7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
            Size:                132 kB
            Rss:                  40 kB
            Pss:                  40 kB
            Anonymous:            40 kB
            """;

    /** QEMU's guest RAM is private anonymous, exactly the guest's size. */
    static final String QEMU = """
            7fa747e00000-7fa74fe00000 rw-p 00000000 00:00 0
            Size:             131072 kB
            Rss:              131072 kB
            Pss:              131072 kB
            Anonymous:        131072 kB
            AnonHugePages:    131072 kB
            7fa755e00000-7fa756000000 rw-p 00000000 00:00 0
            Size:               2048 kB
            Rss:                2048 kB
            Pss:                2048 kB
            Anonymous:          2048 kB
            5569e2cb3000-5569e3a57000 rw-p 00000000 00:00 0                          [heap]
            Size:              13968 kB
            Rss:                4020 kB
            Pss:                4020 kB
            Anonymous:          4020 kB
            """;

    @Test
    void parsesEveryMappingWithItsNameAndSizes() {
        Smaps s = Smaps.parse(JKVM);
        assertThat(s.mappings()).hasSize(5);
        Smaps.Mapping ram = s.mappings().get(1);
        assertThat(ram.name()).isEqualTo("/dev/zero (deleted)");
        assertThat(ram.start()).isEqualTo(0x7f0000000000L);
        assertThat(ram.sizeKb()).isEqualTo(131072);
        assertThat(ram.pssKb()).isEqualTo(130112);
        assertThat(s.mappings().get(2).name()).isEmpty();
        assertThat(s.mappings().get(4).name()).isEqualTo("[stack]");
    }

    @Test
    void jkvmGuestRamIsTheSharedAnonymousMappingOfGuestSize() {
        Smaps s = Smaps.parse(JKVM);
        assertThat(s.totalPssKb()).isEqualTo(2 + 130112 + 8192 + 6000 + 40);
        assertThat(s.guestRamPssKb(128L << 20)).isEqualTo(130112);
        assertThat(s.overheadKb(128L << 20)).isEqualTo(2 + 8192 + 6000 + 40);
        assertThat(s.anonOverheadKb(128L << 20)).isEqualTo(8192 + 100 + 40);
    }

    @Test
    void qemuGuestRamIsThePrivateAnonymousMappingOfGuestSize() {
        Smaps s = Smaps.parse(QEMU);
        assertThat(s.guestRamPssKb(128L << 20)).isEqualTo(131072);
        assertThat(s.overheadKb(128L << 20)).isEqualTo(2048 + 4020);
        assertThat(s.anonOverheadKb(128L << 20)).isEqualTo(2048 + 4020);
    }

    @Test
    void aFileMappingOfGuestSizeIsNotGuestRam() {
        String text = """
                7f0000000000-7f0008000000 r--p 00000000 fe:00 1 /var/lib/big.bin
                Size:             131072 kB
                Pss:               100 kB
                """;
        assertThat(Smaps.parse(text).guestRamPssKb(128L << 20)).isZero();
    }

    @Test
    void emptyInputHasNoMappings() {
        assertThat(Smaps.parse("").mappings()).isEmpty();
        assertThat(Smaps.parse("").totalPssKb()).isZero();
    }
}
