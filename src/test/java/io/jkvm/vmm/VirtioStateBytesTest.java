package io.jkvm.vmm;

import io.jkvm.device.virtio.VirtioBlock;
import io.jkvm.device.virtio.VirtioCoreState;
import io.jkvm.device.virtio.Virtqueue;
import io.jkvm.device.virtio.mmio.VirtioMmioState;
import io.jkvm.device.virtio.pci.MsixTable;
import io.jkvm.device.virtio.pci.VirtioPciState;
import io.jkvm.snapshot.DeviceState;
import org.junit.jupiter.api.Test;

import java.util.HexFormat;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The virtio transports' state records encode to exactly the bytes they did when the ring
 * position was written field by field in each transport: a snapshot or migration stream taken
 * by an earlier build must still load. The expected bytes were produced by that earlier code;
 * a change here is a format change, which needs a new {@link io.jkvm.snapshot.DeviceCodecs#FORMAT_VERSION}.
 */
class VirtioStateBytesTest {
    /** One enabled queue (a position whose indexes wrapped and whose signalled index is valid) and one not. */
    private static final Virtqueue.Position POSITION = new Virtqueue.Position(0xfffe, 0x1234, 0x1233, true);

    static VirtioPciState pci() {
        MsixTable.State msix = new MsixTable.State(new long[] {0xfee0_0000L}, new int[] {0x41}, new boolean[] {false},
                new boolean[] {true}, true, false);
        byte[] cfg = new byte[256];
        cfg[0] = (byte) 0xf4;
        cfg[255] = 0x5a;
        return new VirtioPciState(2, cfg, msix, 1, 0, 0x1_3000_0000L, 0x0f, 3, 1, 0, 1,
                List.of(new VirtioPciState.Queue(256, 0, true, 0x1000, 0x2000, 0x3000, POSITION),
                        new VirtioPciState.Queue(64, 0xffff, false, 0, 0, 0, null)),
                new VirtioBlock.State(2048, true));
    }

    static VirtioMmioState mmio() {
        return new VirtioMmioState(new VirtioCoreState(2, 1, 0, 0x1_3000_0000L, 0x0f, 3, 1,
                List.of(new VirtioCoreState.Queue(256, true, 0x1000, 0x2000, 0x3000, POSITION),
                        new VirtioCoreState.Queue(64, false, 0, 0, 0, null)),
                new VirtioBlock.State(2048, true)), 1);
    }

    private static final String BLOCK_STATE = "000a" + ascii("virtio-blk") + "0000000000000800" + "01";

    /** The enabled queue's ring position: u16 last_avail_idx, u16 used_idx, u16 signalled used idx, u8 valid. */
    private static final String POSITION_BYTES = "fffe" + "1234" + "1233" + "01";

    /** {@link #pci()} as the transport wrote it field by field (VirtioPciState.CODEC's layout). */
    private static final String PCI_BYTES = "03" + "000a" + ascii("virtio-pci")
            + "02" + "00000100" + "f4" + "00".repeat(254) + "5a"
            + "0001" + "00000000fee00000" + "00000041" + "00" + "01" + "01" + "00"
            + "00000001" + "00000000" + "0000000130000000"
            + "0f" + "03" + "0001" + "0000" + "01"
            + "0002"
            + "0100" + "0000" + "01" + "0000000000001000" + "0000000000002000" + "0000000000003000" + POSITION_BYTES
            + "0040" + "ffff" + "00" + "0000000000000000" + "0000000000000000" + "0000000000000000"
            + BLOCK_STATE;

    /** {@link #mmio()} as the transport wrote it field by field (VirtioMmioState.CODEC's layout). */
    private static final String MMIO_BYTES = "03" + "000b" + ascii("virtio-mmio")
            + "02" + "00000001" + "00000000" + "0000000130000000"
            + "0f" + "03" + "0001" + "01"
            + "0002"
            + "0100" + "01" + "0000000000001000" + "0000000000002000" + "0000000000003000" + POSITION_BYTES
            + "0040" + "00" + "0000000000000000" + "0000000000000000" + "0000000000000000"
            + BLOCK_STATE;

    private static String ascii(String s) {
        return HexFormat.of().formatHex(s.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    }

    private static String hex(Record state) {
        return HexFormat.of().formatHex(DeviceStateFormat.CODECS.encode("drive/rootfs", state).bytes());
    }

    private static <S extends Record> S decode(String hex, Class<S> type) {
        return DeviceStateFormat.CODECS.decode(DeviceState.of("drive/rootfs", HexFormat.of().parseHex(hex)), type);
    }

    @Test
    void pciStateEncodesToTheEarlierBytes() {
        assertThat(hex(pci())).isEqualTo(PCI_BYTES);
    }

    @Test
    void mmioStateEncodesToTheEarlierBytes() {
        assertThat(hex(mmio())).isEqualTo(MMIO_BYTES);
    }

    @Test
    void theEarlierBytesDecodeToTheSameStates() {
        assertThat(decode(PCI_BYTES, VirtioPciState.class)).usingRecursiveComparison().isEqualTo(pci());
        assertThat(decode(MMIO_BYTES, VirtioMmioState.class)).isEqualTo(mmio());
    }
}
