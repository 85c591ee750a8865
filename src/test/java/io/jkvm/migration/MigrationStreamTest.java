package io.jkvm.migration;

import io.jkvm.memory.GuestRam;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.MachineConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;

import static io.jkvm.migration.StreamFixture.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The destination's parser on valid and on broken or hostile streams: each refusal names what is wrong. */
class MigrationStreamTest {
    GuestRam ram;

    @BeforeEach
    void ram() {
        ram = GuestRam.allocate(RAM, io.jkvm.memory.RamBacking.PAGES);
    }

    @AfterEach
    void free() {
        ram.close();
    }

    private void refused(byte[] stream, String message) {
        assertThatThrownBy(() -> receive(stream, ram)).isInstanceOf(MigrationException.class).hasMessage(message);
    }

    @Test
    void aValidStreamLandsInGuestRam() {
        IncomingStream s = receive(valid(), ram);
        assertThat(ram.memory().read(RAM - Wire.PAGE, Wire.PAGE)).isEqualTo(page(2));
        assertThat(ram.memory().read(0x3000, Wire.PAGE)).isEqualTo(page(3));
        assertThat(ram.memory().read(0x1000, Wire.PAGE)).as("zeroed again in round 1").isEqualTo(new byte[Wire.PAGE]);
        assertThat(s.kvmState()).containsExactly(1, 2, 3, 4);
        assertThat(s.devices()).containsExactly(DeviceState.of("serial0", new byte[] {9, 8, 7}));
        assertThat(s.rounds()).isEqualTo(2);
        assertThat(s.pages()).isEqualTo(4);
        assertThat(s.diskBytes()).as("1 KiB of blocks, 8 KiB zeroed").isEqualTo(1024 + 8192);
    }

    @Test
    void everyTruncationIsRefused() {
        byte[] v = valid();
        for (int len = 0; len < v.length; len++) {
            byte[] cut = Arrays.copyOf(v, len);
            assertThatThrownBy(() -> receive(cut, ram)).as("cut at %d", len)
                    .isInstanceOf(MigrationException.class).hasMessageContaining("ended");
        }
    }

    @Test
    void headerProblemsAreNamed() {
        byte[] v = valid();
        byte[] magic = v.clone();
        magic[0] = 'X';
        refused(magic, "stream header: magic is not JKVMMIGR (not a jkvm migration stream)");
        byte[] version = v.clone();
        version[11] = 1;
        refused(version, "stream header: version 1 is not supported (this jkvm speaks versions 2 to 4)");
    }

    @Test
    void oversizedRecordsAreRefusedBeforeAllocation() {
        byte[] s = stream(w -> w.config(CONFIG));
        ByteBuffer b = ByteBuffer.allocate(s.length + 5).put(s).put((byte) Wire.PAGES).putInt(Integer.MAX_VALUE);
        refused(b.array(), "PAGES record: length 2147483647 is over the limit of 1050628 bytes");
        ByteBuffer c = ByteBuffer.allocate(12 + 5).put(Arrays.copyOf(s, 12)).put((byte) Wire.CONFIG).putInt(-1);
        refused(c.array(), "CONFIG record: length 4294967295 is over the limit of " + (15 + VmShape.MAX_BYTES + 1 + VmShape.MAX_DEVICES) + " bytes");
    }

    @Test
    void pagesOutsideGuestRamAreRefused() {
        refused(stream(w -> {
            w.config(CONFIG);
            w.pages(new long[] {RAM}, page(1), 1);
        }), "PAGES record: gpa 0x200000 is outside guest RAM");
        refused(stream(w -> {
            w.config(CONFIG);
            w.zeroPages(new long[] {-4096L}, 1);
        }), "ZERO_PAGES record: gpa 0xfffffffffffff000 is outside guest RAM");
        refused(stream(w -> {
            w.config(CONFIG);
            w.pages(new long[] {0x1800}, page(1), 1);
        }), "PAGES record: gpa 0x1800 is not page-aligned");
    }

    @Test
    void aBatchNeedsACountThatMatchesItsLength() {
        byte[] s = stream(w -> w.config(CONFIG));
        ByteBuffer b = ByteBuffer.allocate(s.length + 5 + 4).put(s).put((byte) Wire.ZERO_PAGES).putInt(4).putInt(0);
        refused(b.array(), "ZERO_PAGES record: page count 0 outside 1..4096");
        ByteBuffer c = ByteBuffer.allocate(s.length + 5 + 12).put(s).put((byte) Wire.ZERO_PAGES).putInt(12).putInt(2).putLong(0);
        refused(c.array(), "ZERO_PAGES record: length 8, expected 16");
        // PAGES is read straight from the stream: the count and length are checked before its arrays exist.
        ByteBuffer d = ByteBuffer.allocate(s.length + 5 + 4).put(s).put((byte) Wire.PAGES).putInt(4).putInt(257);
        refused(d.array(), "PAGES record: page count 257 outside 1..256");
        ByteBuffer e = ByteBuffer.allocate(s.length + 5 + 4).put(s).put((byte) Wire.PAGES).putInt(4).putInt(1);
        refused(e.array(), "PAGES record: length 0, expected 4104");
        ByteBuffer f = ByteBuffer.allocate(s.length + 5 + 2).put(s).put((byte) Wire.PAGES).putInt(2).putShort((short) 0);
        refused(f.array(), "PAGES record: no page count");
        ByteBuffer g = ByteBuffer.allocate(s.length + 5 + 4 + 8 + 100).put(s).put((byte) Wire.PAGES).putInt(4 + 8 + 4096)
                .putInt(1).putLong(0);
        refused(g.array(), "PAGES record: stream ended inside the 4108-byte payload");
    }

    @Test
    void aBigRecordBeforeConfigIsRefusedOnItsHeaderAlone() {
        // KVM_STATE may announce up to the wire's limit; before CONFIG, nothing of it is read or
        // kept (it was read in full, in 256 KiB pieces and then once more whole, then refused).
        byte[] s = stream(w -> {});
        ByteBuffer b = ByteBuffer.allocate(s.length + 5).put(s).put((byte) Wire.KVM_STATE)
                .putInt((int) RecordReader.maxLength(Wire.KVM_STATE));
        refused(b.array(), "KVM_STATE record out of order: expected CONFIG first");
    }

    @Test
    void recordsOutOfOrderAreRefused() {
        refused(stream(w -> w.pages(new long[] {0}, page(1), 1)),
                "PAGES record out of order: expected CONFIG first");
        refused(stream(w -> {
            w.config(CONFIG);
            w.config(CONFIG);
        }), "CONFIG record out of order: expected PAGES, ZERO_PAGES, BLOCKS, ZERO_BLOCKS, ROUND, POSTCOPY or KVM_STATE");
        refused(stream(w -> {
            w.config(CONFIG);
            w.device(DeviceState.of("a", new byte[0]));
        }), "DEVICE record out of order: expected PAGES, ZERO_PAGES, BLOCKS, ZERO_BLOCKS, ROUND, POSTCOPY or KVM_STATE");
        refused(stream(w -> {
            w.config(CONFIG);
            w.kvmState(new byte[1]);
            w.pages(new long[] {0}, page(1), 1);
        }), "PAGES record out of order: expected DEVICE or DONE after KVM_STATE");
        refused(stream(w -> {
            w.config(CONFIG);
            w.empty(Wire.DONE);
        }), "DONE record out of order: expected PAGES, ZERO_PAGES, BLOCKS, ZERO_BLOCKS, ROUND, POSTCOPY or KVM_STATE");
        refused(stream(w -> {
            w.config(CONFIG);
            w.round(1, 0);
        }), "ROUND record: round 1, expected 0");
        refused(stream(w -> {
            w.config(CONFIG);
            w.kvmState(new byte[1]);
            w.device(DeviceState.of("a", new byte[0]));
            w.device(DeviceState.of("a", new byte[0]));
        }), "DEVICE record: device a sent twice");
    }

    @Test
    void unknownAndReplyRecordsAreRefused() {
        byte[] s = stream(w -> w.config(CONFIG));
        refused(ByteBuffer.allocate(s.length + 5).put(s).put((byte) 0x42).putInt(0).array(), "unknown record type 0x42");
        refused(stream(w -> {
            w.config(CONFIG);
            w.empty(Wire.READY);
        }), "READY record is a reply; the source may not send it");
    }

    @Test
    void anAbortCarriesTheSourcesReason() {
        refused(stream(w -> {
            w.config(CONFIG);
            w.reason(Wire.ABORT, "cancelled\u0007 by the operator");
        }), "the source aborted the migration: cancelled? by the operator");
    }

    @Test
    void aReasonOrDeviceNameFromThePeerIsOnePrintableLine() {
        // A C1 CSI (a terminal escape without ESC), a right-to-left override, a line break that
        // would forge a log line of its own.
        refused(stream(w -> {
            w.config(CONFIG);
            w.reason(Wire.ABORT, "cancelled\u009b2J\u202e\n{\"level\":\"info\"}");
        }), "the source aborted the migration: cancelled?2J? {\"level\":\"info\"}");
        assertThat(Wire.printable("caf\u00e9 \ud83d\ude80 \u001b[0m")).as("printable text stays")
                .isEqualTo("caf\u00e9 \ud83d\ude80 ?[0m");
    }

    @Test
    void aVersion2StreamFromAnOlderSourceIsStillTaken() {
        byte[] s;
        try {
            java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
            RecordWriter w = new RecordWriter(b);
            w.header(2);
            w.config(CONFIG, StreamFixture.SHAPE);
            w.pages(new long[] {0x2000}, page(7), 1);
            w.round(0, 1);
            w.kvmState(new byte[] {1});
            w.empty(Wire.DONE);
            w.flush();
            s = b.toByteArray();
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> w.config(CONFIG, StreamFixture.SHAPE, List.of(0)))
                    .as("version 2 has no copied disks").isInstanceOf(IllegalStateException.class);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        IncomingStream in = receive(s, ram);
        assertThat(in.shape()).isEqualTo(StreamFixture.SHAPE);
        assertThat(ram.memory().read(0x2000, Wire.PAGE)).isEqualTo(page(7));
    }

    @Test
    void anIncompatibleOrInvalidConfigurationIsRefused() {
        refused(stream(w -> w.config(new MachineConfig(2, RAM, false))), "refused: snapshot has 2 vCPUs, this VM has 1");
        byte[] s = stream(w -> w.config(CONFIG));
        s[12 + 5 + 4 + 7] = 1; // memory size 0x200001
        refused(s, "CONFIG record: memory size 2097153 is not a positive multiple of 4 KiB up to 64 TiB");
    }

    @Test
    void theDeviceShapeTravelsWithTheConfigAndBadOnesAreNamed() {
        VmShape shape = new VmShape(List.of(new VmShape.Disk("rootfs", false, 32L << 20), new VmShape.Disk(null, true, 512)),
                List.of(new VmShape.Nic(io.jkvm.net.MacAddress.parse("52:54:00:12:34:56"))), false, true);
        VmShape[] got = new VmShape[1];
        GuestRam r = ram;
        byte[] s = stream(w -> w.config(CONFIG, shape));
        IncomingStream in = new IncomingStream((c, sh, copied) -> {
            got[0] = sh;
            return r.memory();
        });
        RecordReader reader = new RecordReader(new java.io.ByteArrayInputStream(s));
        try {
            reader.header();
            in.accept(reader.read(in));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        assertThat(got[0]).isEqualTo(shape);
        assertThat(in.shape()).isEqualTo(shape);

        byte[] bad = s.clone();
        bad[12 + 5 + 15] = 9; // shape version
        refused(bad, "CONFIG record: device shape: version 9 is not supported (this jkvm reads version 1)");
        byte[] cut = stream(w -> w.config(CONFIG, new VmShape(List.of(), List.of(), false, false)));
        cut[12 + 5 + 15 + 1] = 3; // three disks announced, none there
        refused(cut, "CONFIG record: device shape: ends inside a field");
    }

    @Test
    void addressesParseWithNamedErrors() {
        assertThat(MigrationAddress.parse("--to", "tcp:127.0.0.1:4444")).isEqualTo(new MigrationAddress("127.0.0.1", 4444));
        assertThat(MigrationAddress.parse("--to", "tcp:[::1]:4444").host()).isEqualTo("::1");
        assertThatThrownBy(() -> MigrationAddress.parse("--to", "127.0.0.1:4444")).hasMessage("--to: expected tcp:HOST:PORT, got 127.0.0.1:4444");
        assertThatThrownBy(() -> MigrationAddress.parse("--to", "tcp:h:x")).hasMessage("--to: port is not a number in tcp:h:x");
        assertThatThrownBy(() -> MigrationAddress.parse("--to", "tcp:h:70000")).hasMessage("--to: port 70000 outside 0..65535");
        assertThatThrownBy(() -> MigrationAddress.parse("--to", "tcp:h:0")).hasMessageContaining("--to: port 0 is only allowed");
        assertThat(MigrationAddress.parseAny("--incoming", "tcp:127.0.0.1:0").port()).isZero();
    }
}
