package io.jkvm.migration;

import io.jkvm.memory.GuestMemory;
import io.jkvm.memory.GuestRam;
import io.jkvm.memory.RamChunks;
import io.jkvm.snapshot.MachineConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.BitSet;
import java.util.List;

import static io.jkvm.migration.StreamFixture.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Post-copy's records on the destination's parser and the source's sender: the switch is taken
 * only when CONFIG announced it, for exactly this machine's chunks, with nothing but KVM state
 * after it; a destination that cannot fetch RAM refuses up front; the source sends each chunk it
 * left behind once, and nothing else.
 */
class PostcopyStreamTest {
    /** 2 MiB of RAM in 64 KiB chunks. */
    static final int CHUNKS = (int) (RAM / Wire.POSTCOPY_CHUNK);

    GuestRam ram;

    @BeforeEach
    void ram() {
        ram = GuestRam.allocate(RAM, io.jkvm.memory.RamBacking.PAGES);
    }

    @AfterEach
    void free() {
        ram.close();
    }

    /** A destination that can take post-copy (the flag is passed on to it). */
    private IncomingStream receive(byte[] bytes) {
        GuestMemory memory = ram.memory();
        IncomingStream s = new IncomingStream(new IncomingStream.OnConfig() {
            public GuestMemory accept(MachineConfig c, VmShape shape, List<Integer> copied) {
                return memory;
            }

            public GuestMemory accept(MachineConfig c, VmShape shape, List<Integer> copied, boolean postcopy) {
                return memory;
            }
        });
        feed(bytes, s);
        return s;
    }

    private static void feed(byte[] bytes, IncomingStream s) {
        RecordReader r = new RecordReader(new ByteArrayInputStream(bytes));
        try {
            r.header();
            while (!s.accept(r.read(s))) {
                // next record
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static BitSet bits(int... set) {
        BitSet b = new BitSet();
        for (int i : set) {
            b.set(i);
        }
        return b;
    }

    private void refused(byte[] stream, String message) {
        assertThatThrownBy(() -> receive(stream)).isInstanceOf(MigrationException.class).hasMessage(message);
    }

    @Test
    void theSwitchCarriesTheChunksLeftBehind() {
        IncomingStream s = receive(stream(w -> {
            w.config(CONFIG, null, List.of(), true);
            w.pages(new long[] {0x1000}, page(1), 1);
            w.round(0, 1);
            w.postcopy(CHUNKS, bits(0, 7, CHUNKS - 1));
            w.kvmState(new byte[] {1});
            w.empty(Wire.DONE);
        }));
        assertThat(s.postcopy()).isNotNull();
        assertThat(s.postcopy().chunks()).isEqualTo(CHUNKS);
        assertThat(s.postcopy().missing()).isEqualTo(bits(0, 7, CHUNKS - 1));
        assertThat(ram.memory().read(0x1000, Wire.PAGE)).isEqualTo(page(1));
    }

    @Test
    void aPrecopyStreamHasNoSwitch() {
        assertThat(receive(stream(w -> {
            w.config(CONFIG, null, List.of(), true);
            w.kvmState(new byte[] {1});
            w.empty(Wire.DONE);
        })).postcopy()).isNull();
    }

    @Test
    void aSwitchNotAnnouncedOrForAnotherMachineIsRefused() {
        refused(stream(w -> {
            w.config(CONFIG);
            w.postcopy(CHUNKS, bits(1));
        }), "POSTCOPY record: length 8 is over the limit of 0 bytes (CONFIG did not announce post-copy)");
        refused(stream(w -> {
            w.config(CONFIG, null, List.of(), true);
            w.postcopy(CHUNKS - 1, bits(1));
        }), "POSTCOPY record: " + (CHUNKS - 1) + " chunks, this machine's RAM has " + CHUNKS);
        // Longer than this machine's bitmap: refused on the announced length, before it is read.
        refused(stream(w -> {
            w.config(CONFIG, null, List.of(), true);
            w.postcopy(CHUNKS * 64, bits(1));
        }), "POSTCOPY record: length " + (4 + CHUNKS * 8) + " is over the limit of " + (4 + CHUNKS / 8)
                + " bytes (the bitmap of this machine's " + CHUNKS + " chunks)");
    }

    @Test
    void onlyKvmStateFollowsTheSwitch() {
        refused(stream(w -> {
            w.config(CONFIG, null, List.of(), true);
            w.postcopy(CHUNKS, bits(1));
            w.pages(new long[] {0x1000}, page(1), 1);
        }), "PAGES record out of order: only KVM_STATE may follow POSTCOPY");
        refused(stream(w -> {
            w.config(CONFIG, null, List.of(), true);
            w.postcopy(CHUNKS, bits(1));
            w.postcopy(CHUNKS, bits(2));
        }), "POSTCOPY record out of order: only KVM_STATE may follow POSTCOPY");
        refused(stream(w -> {
            w.config(CONFIG, null, List.of(), true);
            w.kvmState(new byte[] {1});
            w.postcopy(CHUNKS, bits(2));
        }), "POSTCOPY record out of order: expected DEVICE or DONE after KVM_STATE");
    }

    @Test
    void aBitmapMustMatchItsCountExactly() {
        byte[] head = stream(w -> w.config(CONFIG, null, List.of(), true));
        // 10 chunks take 2 bytes; chunk 12 is marked.
        byte[] pastCount = ByteBuffer.allocate(head.length + 5 + 6).put(head).put((byte) Wire.POSTCOPY).putInt(6)
                .putInt(10).put((byte) 0).put((byte) 0x10).array();
        refused(pastCount, "POSTCOPY record: chunk 12 is marked, but there are 10");
        byte[] shortMap = ByteBuffer.allocate(head.length + 5 + 5).put(head).put((byte) Wire.POSTCOPY).putInt(5)
                .putInt(10).put((byte) 0).array();
        refused(shortMap, "POSTCOPY record: length 1, expected 2");
        byte[] none = ByteBuffer.allocate(head.length + 5 + 4).put(head).put((byte) Wire.POSTCOPY).putInt(4).putInt(0).array();
        refused(none, "POSTCOPY record: chunk count 0 is out of range");
    }

    @Test
    void unknownConfigFlagsAreRefused() {
        byte[] s = stream(w -> w.config(CONFIG, null, List.of(), true));
        s[s.length - 1] = 0x06;
        refused(s, "CONFIG record: unknown flags 0x06");
    }

    @Test
    void aDestinationThatCannotFetchRamRefusesPostcopyUpFront() {
        IncomingStream plain = new IncomingStream((c, shape, copied) -> ram.memory());
        assertThatThrownBy(() -> feed(stream(w -> w.config(CONFIG, null, List.of(), true)), plain))
                .hasMessage("post-copy: this destination cannot fetch guest RAM after the start");
    }

    @Test
    void olderVersionsCannotAnnouncePostcopy() throws IOException {
        RecordWriter w = new RecordWriter(new ByteArrayOutputStream());
        w.header(3);
        assertThatThrownBy(() -> w.config(CONFIG, null, List.of(), true)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void repliesAndChunksDecodeWithNamedErrors() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        RecordWriter w = new RecordWriter(b);
        w.request(5);
        w.chunk(5, page(3), Wire.PAGE);
        w.empty(Wire.FILLED);
        w.flush();
        RecordReader r = new RecordReader(new ByteArrayInputStream(b.toByteArray()));
        assertThat(r.read()).isEqualTo(new MigrationRecord.Request(5));
        assertThat(r.read()).isEqualTo(new MigrationRecord.Chunk(5, page(3)));
        assertThat(r.read()).isEqualTo(new MigrationRecord.Filled());

        byte[] negative = ByteBuffer.allocate(9).put((byte) Wire.REQUEST).putInt(4).putInt(-1).array();
        assertThatThrownBy(() -> new RecordReader(new ByteArrayInputStream(negative)).read())
                .hasMessage("REQUEST record: chunk 4294967295 is out of range");
        byte[] big = ByteBuffer.allocate(5).put((byte) Wire.CHUNK).putInt(4 + Wire.POSTCOPY_CHUNK + 1).array();
        assertThatThrownBy(() -> new RecordReader(new ByteArrayInputStream(big)).read())
                .hasMessage("CHUNK record: length " + (4 + Wire.POSTCOPY_CHUNK + 1) + " is over the limit of "
                        + (4 + Wire.POSTCOPY_CHUNK) + " bytes");
    }

    @Test
    void eachEndTakesOnlyTheRecordsItCanExpectBeforeReadingThem() {
        // A destination may not push a source's record at the source: refused at its header.
        byte[] bitmap = ByteBuffer.allocate(5).put((byte) Wire.POSTCOPY).putInt(1 << 20).array();
        assertThatThrownBy(() -> new RecordReader(new ByteArrayInputStream(bitmap)).read(OutgoingMigration.REPLIES))
                .hasMessage("POSTCOPY record: length 1048576 is over the limit of 0 bytes (the destination may send only replies)");
        // Nor may a source send a chunk nobody asked for, or a reply, in its stream.
        byte[] head = stream(w -> w.config(CONFIG, null, List.of(), true));
        refused(ByteBuffer.allocate(head.length + 5).put(head).put((byte) Wire.CHUNK).putInt(5 + Wire.PAGE).array(),
                "CHUNK record: length " + (5 + Wire.PAGE) + " is over the limit of 0 bytes (CHUNK comes only after DONE, asked for)");
        refused(ByteBuffer.allocate(head.length + 5).put(head).put((byte) Wire.FAILED).putInt(100).array(),
                "FAILED record: length 100 is over the limit of 0 bytes (a source sends no replies)");
    }

    @Test
    void theSourceSendsEachChunkLeftBehindOnceAndNothingElse() throws IOException {
        GuestMemory m = ram.memory();
        long gpa = 3L * Wire.POSTCOPY_CHUNK + 0x2000;
        m.write(gpa, page(4), 0, Wire.PAGE);
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        RecordWriter w = new RecordWriter(b);
        PostcopySender sender = PostcopySender.of(m, new long[] {gpa, gpa + Wire.PAGE, 0}, w);
        assertThat(sender.missing()).isEqualTo(2);
        sender.announce();
        sender.send(3);
        assertThatThrownBy(() -> sender.send(3)).hasMessage("REQUEST record: chunk 3 was not left for post-copy or was sent already");
        assertThatThrownBy(() -> sender.send(1)).hasMessage("REQUEST record: chunk 1 was not left for post-copy or was sent already");
        assertThatThrownBy(() -> sender.send(CHUNKS)).hasMessage("REQUEST record: chunk " + CHUNKS + " is out of range");
        assertThat(sender.sent()).isEqualTo(1);

        RecordReader r = new RecordReader(new ByteArrayInputStream(b.toByteArray()));
        assertThat(r.read()).isEqualTo(new MigrationRecord.Postcopy(CHUNKS, bits(0, 3)));
        MigrationRecord.Chunk c = (MigrationRecord.Chunk) r.read();
        assertThat(c.index()).isEqualTo(3);
        assertThat(c.data()).hasSize(Wire.POSTCOPY_CHUNK);
        assertThat(java.util.Arrays.copyOfRange(c.data(), 0x2000, 0x3000)).isEqualTo(page(4));
    }

    @Test
    void bothEndsNumberChunksAlike() {
        RamChunks chunks = RamChunks.of(ram.memory(), Wire.POSTCOPY_CHUNK);
        assertThat(chunks.count()).isEqualTo(CHUNKS);
        assertThat(chunks.indexOf(RAM - 1)).isEqualTo(CHUNKS - 1);
        assertThat(chunks.indexOf(RAM)).isEqualTo(-1);
        assertThat(chunks.region(5).guestAddress() + chunks.offset(5)).isEqualTo(5L * Wire.POSTCOPY_CHUNK);
        assertThat(chunks.length(CHUNKS - 1)).isEqualTo(Wire.POSTCOPY_CHUNK);
    }
}
