package io.jkvm.device.virtio.vsock;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

import static io.jkvm.device.virtio.vsock.VsockHeader.*;
import static org.assertj.core.api.Assertions.assertThat;

/** The 44-byte header layout (virtio 1.2 §5.10.6), the CONNECT line, and the per-packet checks. */
class VsockHeaderTest {
    @Test
    void fieldsSitAtTheirSpecOffsetsLittleEndian() {
        byte[] b = new VsockHeader(0x0102030405060708L, 2, 0x11223344, 0x55667788, 0x10, TYPE_STREAM, OP_RW,
                SHUTDOWN_SEND, 0x40000, 0x1234).encode();
        assertThat(b).hasSize(SIZE);
        assertThat(b[0]).isEqualTo((byte) 0x08); // src_cid le64 at 0
        assertThat(b[7]).isEqualTo((byte) 0x01);
        assertThat(b[8]).isEqualTo((byte) 2); // dst_cid at 8
        assertThat(b[16]).isEqualTo((byte) 0x44); // src_port at 16
        assertThat(b[20]).isEqualTo((byte) 0x88); // dst_port at 20
        assertThat(b[24]).isEqualTo((byte) 0x10); // len at 24
        assertThat(b[28]).isEqualTo((byte) 1); // type le16 at 28
        assertThat(b[30]).isEqualTo((byte) 5); // op le16 at 30
        assertThat(b[32]).isEqualTo((byte) 2); // flags at 32
        assertThat(b[38]).isEqualTo((byte) 4); // buf_alloc 0x40000 at 36
        assertThat(b[40]).isEqualTo((byte) 0x34); // fwd_cnt at 40
    }

    @Property(tries = 300)
    void decodeInvertsEncode(@ForAll long src, @ForAll long dst, @ForAll int sp, @ForAll int dp, @ForAll int len,
            @ForAll char type, @ForAll char op, @ForAll int flags, @ForAll int alloc, @ForAll int fwd) {
        VsockHeader h = new VsockHeader(src, dst, sp, dp, len, type, op, flags, alloc, fwd);
        assertThat(VsockHeader.decode(h.encode())).isEqualTo(h);
    }

    @Test
    void connectLines() {
        assertThat(HostClient.parse("CONNECT 1024")).isEqualTo(new HostClient.Port(1024));
        assertThat(HostClient.parse("CONNECT 4294967295")).isEqualTo(new HostClient.Port(0xffff_ffffL));
        assertThat(HostClient.parse("CONNECT 4294967296")).isInstanceOf(HostClient.Drop.class);
        assertThat(HostClient.parse("CONNECT ")).isInstanceOf(HostClient.Drop.class);
        assertThat(HostClient.parse("CONNECT -1")).isInstanceOf(HostClient.Drop.class);
        assertThat(HostClient.parse("CONNECT 12a")).isInstanceOf(HostClient.Drop.class);
        assertThat(HostClient.parse("connect 12")).isInstanceOf(HostClient.Drop.class);
        assertThat(HostClient.parse("CONNECT 99999999999")).isInstanceOf(HostClient.Drop.class);
    }

    private static VsockHeader h(long src, long dst, int type, int op, int len) {
        return new VsockHeader(src, dst, 1, 2, len, type, op, 0, 0, 0);
    }

    @Test
    void packetChecks() {
        long cid = 3;
        assertThat(VsockPackets.check(h(3, 2, TYPE_STREAM, OP_RW, 10), 10, cid)).isEqualTo(VsockPackets.Verdict.ACCEPT);
        assertThat(VsockPackets.check(h(4, 2, TYPE_STREAM, OP_RW, 0), 0, cid)).as("spoofed source CID")
                .isEqualTo(VsockPackets.Verdict.DROP);
        assertThat(VsockPackets.check(h(3, 5, TYPE_STREAM, OP_REQUEST, 0), 0, cid)).as("not for the host")
                .isEqualTo(VsockPackets.Verdict.DROP);
        assertThat(VsockPackets.check(h(3, 2, 2, OP_REQUEST, 0), 0, cid)).as("SEQPACKET not offered")
                .isEqualTo(VsockPackets.Verdict.RST);
        assertThat(VsockPackets.check(h(3, 2, TYPE_STREAM, 8, 0), 0, cid)).as("unknown op").isEqualTo(VsockPackets.Verdict.RST);
        assertThat(VsockPackets.check(h(3, 2, TYPE_STREAM, OP_INVALID, 0), 0, cid)).isEqualTo(VsockPackets.Verdict.RST);
        assertThat(VsockPackets.check(h(3, 2, TYPE_STREAM, OP_RW, 11), 10, cid)).as("len beyond the chain")
                .isEqualTo(VsockPackets.Verdict.RST);
        assertThat(VsockPackets.check(h(3, 2, TYPE_STREAM, OP_RW, -1), Long.MAX_VALUE, cid)).as("len 2^32-1")
                .isEqualTo(VsockPackets.Verdict.RST);
        assertThat(VsockPackets.check(h(3, 2, TYPE_STREAM, OP_RW, VirtioVsock.MAX_PAYLOAD + 1), 1 << 20, cid))
                .as("len above the cap").isEqualTo(VsockPackets.Verdict.RST);
        assertThat(VsockPackets.check(h(3, 2, TYPE_STREAM, OP_REQUEST, 4), 4, cid)).as("payload on a control op")
                .isEqualTo(VsockPackets.Verdict.RST);
        assertThat(VsockPackets.check(h(3, 2, 9, OP_RST, 0), 0, cid)).as("RST is never answered")
                .isEqualTo(VsockPackets.Verdict.ACCEPT);
    }
}
