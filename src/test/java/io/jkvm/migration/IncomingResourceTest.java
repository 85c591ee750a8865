package io.jkvm.migration;

import io.jkvm.memory.GuestMemory;
import io.jkvm.memory.GuestRam;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.MachineConfig;
import io.jkvm.testing.ThreadCost;
import io.jkvm.vmm.Machine;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A hostile (authenticated) migration source against the destination's memory (issue 11, item
 * 5): what the destination allocates and keeps is bounded by what the machine needs, not by what
 * the source claims; and whatever goes wrong, an Error included, the half-built VM is discarded
 * and the source is told. No KVM: the target is plain RAM.
 */
class IncomingResourceTest {
    /** One valid migration first, so the allocations measured below are the stream's, not class loading's. */
    @org.junit.jupiter.api.BeforeAll
    static void warmUp() throws Exception {
        FakeTarget[] made = new FakeTarget[1];
        receive(bytes(StreamFixture.valid()), made).target().close();
    }

    /** Up to 256 DEVICE records of up to 16 MiB each used to be kept until DONE (~4 GiB). */
    @Test
    void deviceRecordsCannotPileUpInMemory() {
        int records = 16;
        int each = 16 << 20;
        List<InputStream> parts = new ArrayList<>();
        parts.add(bytes(StreamFixture.stream(w -> {
            w.config(StreamFixture.CONFIG);
            w.kvmState(new byte[] {1, 2, 3});
        })));
        for (int i = 0; i < records; i++) {
            byte[] name = ("dev" + i).getBytes(StandardCharsets.US_ASCII);
            int payload = each - 2 - name.length;
            parts.add(bytes(ByteBuffer.allocate(5 + 2 + name.length).put((byte) Wire.DEVICE).putInt(each)
                    .putShort((short) name.length).put(name).array()));
            parts.add(zeros(payload));
        }
        parts.add(bytes(new byte[] {Wire.DONE, 0, 0, 0, 0}));
        FakeTarget[] made = new FakeTarget[1];
        ThreadCost before = ThreadCost.of(Thread.currentThread().threadId());
        assertThatThrownBy(() -> receive(new SequenceInputStream(Collections.enumeration(parts)), made))
                .isInstanceOf(MigrationException.class)
                .hasMessageContaining("DEVICE record").hasMessageContaining("limit");
        ThreadCost cost = ThreadCost.of(Thread.currentThread().threadId()).since(before);
        assertThat(made[0].closed).as("the half-received VM is discarded").isTrue();
        assertThat(cost.allocatedBytes()).as("receiving %d x %d MiB of device state: %s", records, each >> 20, cost)
                .isLessThan(48L << 20);
    }

    /** A KVM_STATE record far larger than one vCPU's state is refused at its header, before any payload is read. */
    @Test
    void aKvmStateLargerThanTheMachineNeedsIsRefusedAtItsHeader() {
        int claimed = 60 << 20;
        byte[] head = StreamFixture.stream(w -> w.config(StreamFixture.CONFIG));
        InputStream in = new SequenceInputStream(bytes(head),
                bytes(ByteBuffer.allocate(5).put((byte) Wire.KVM_STATE).putInt(claimed).array()));
        FakeTarget[] made = new FakeTarget[1];
        ThreadCost before = ThreadCost.of(Thread.currentThread().threadId());
        assertThatThrownBy(() -> receive(in, made)).isInstanceOf(MigrationException.class)
                .hasMessageStartingWith("KVM_STATE record: length " + claimed + " is over the limit of");
        ThreadCost cost = ThreadCost.of(Thread.currentThread().threadId()).since(before);
        assertThat(cost.allocatedBytes()).as("for a %d MiB claim: %s", claimed >> 20, cost).isLessThan(8L << 20);
        assertThat(made[0].closed).isTrue();
    }

    /** An Error (here OutOfMemoryError) while applying the stream: target closed, source told, MigrationException. */
    @Test
    void anErrorWhileReceivingDiscardsTheHalfBuiltVm() {
        FakeTarget[] made = new FakeTarget[1];
        ByteArrayOutputStream replies = new ByteArrayOutputStream();
        assertThatThrownBy(() -> IncomingMigration.receiveFrom(bytes(StreamFixture.valid()), replies, (c, shape) -> {
            made[0] = new FakeTarget(c);
            made[0].failOnDevices = new OutOfMemoryError("test: Java heap space");
            return made[0];
        })).isInstanceOf(MigrationException.class).hasMessageContaining("OutOfMemoryError");
        assertThat(made[0].closed).as("the half-built VM is discarded").isTrue();
        assertThat(new String(replies.toByteArray(), StandardCharsets.ISO_8859_1)).as("the source is told")
                .contains("OutOfMemoryError");
    }

    /**
     * The source takes its disk images' locks back when it reads FAILED, so the half-built VM (which
     * may have opened them) is closed before FAILED is written, not after.
     */
    @Test
    void aFailingDestinationLetsGoOfItsVmBeforeItTellsTheSource() {
        FakeTarget[] made = new FakeTarget[1];
        List<Boolean> closedAtEachWrite = new ArrayList<>();
        ByteArrayOutputStream replies = new ByteArrayOutputStream() {
            @Override
            public synchronized void write(byte[] b, int off, int len) {
                closedAtEachWrite.add(made[0] != null && made[0].closed);
                super.write(b, off, len);
            }
        };
        assertThatThrownBy(() -> IncomingMigration.receiveFrom(bytes(StreamFixture.valid()), replies, (c, shape) -> {
            made[0] = new FakeTarget(c);
            made[0].refuseDevices = new MigrationException("DEVICE records: test: a device cannot be restored");
            return made[0];
        })).isInstanceOf(MigrationException.class).hasMessageContaining("a device cannot be restored");
        assertThat(new String(replies.toByteArray(), StandardCharsets.ISO_8859_1)).contains("a device cannot be restored");
        assertThat(closedAtEachWrite).as("READY while the VM is being built, FAILED once it is closed")
                .isNotEmpty().startsWith(false).endsWith(true);
    }

    private static IncomingMigration.Result receive(InputStream in, FakeTarget[] made) throws Exception {
        return IncomingMigration.receiveFrom(in, new ByteArrayOutputStream(), (c, shape) -> {
            made[0] = new FakeTarget(c);
            return made[0];
        });
    }

    private static InputStream bytes(byte[] b) {
        return new ByteArrayInputStream(b);
    }

    /** {@code n} zero bytes, made as they are read. */
    private static InputStream zeros(long n) {
        return new InputStream() {
            long left = n;

            @Override
            public int read() {
                if (left == 0) {
                    return -1;
                }
                left--;
                return 0;
            }

            @Override
            public int read(byte[] b, int off, int len) {
                if (left == 0) {
                    return -1;
                }
                int k = (int) Math.min(len, left);
                java.util.Arrays.fill(b, off, off + k, (byte) 0);
                left -= k;
                return k;
            }
        };
    }

    /** A destination VM without KVM: plain RAM; records what happens to it. */
    static final class FakeTarget implements MigrationTarget {
        final GuestRam ram;
        volatile boolean closed;
        Error failOnDevices;
        RuntimeException refuseDevices;

        FakeTarget(MachineConfig c) {
            ram = GuestRam.allocate(c.memoryBytes(), io.jkvm.memory.RamBacking.PAGES);
        }

        @Override
        public Machine machine() {
            throw new UnsupportedOperationException("no KVM in this test");
        }

        @Override
        public GuestMemory memory() {
            return ram.memory();
        }

        @Override
        public void checkPostcopy() {
            ram.requireFillable();
        }

        @Override
        public io.jkvm.memory.LazyFill fetchRam(int chunkSize, io.jkvm.memory.LazyFill.ChunkSource source,
                java.util.BitSet missing) {
            return ram.fillLazily(chunkSize, source, true, e -> { }, missing);
        }

        @Override
        public void applyKvmState(MachineConfig config, byte[] state) {
            // no vCPUs to give it to
        }

        /** Disk contents are counted, not kept: the stream checked their ranges against the announced disk. */
        long diskBytes;

        @Override
        public void receiveDisks(List<Integer> copied) {
            // any announced disk is taken
        }

        @Override
        public void writeDisk(int disk, long offset, byte[] data) {
            diskBytes += data.length;
        }

        @Override
        public void zeroDisk(int disk, long offset, long length) {
            diskBytes += length;
        }

        @Override
        public void restoreDevices(List<DeviceState> devices) {
            if (failOnDevices != null) {
                throw failOnDevices;
            }
            if (refuseDevices != null) {
                throw refuseDevices;
            }
        }

        @Override
        public void start() {}

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                ram.close();
            }
        }
    }
}
