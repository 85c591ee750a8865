package io.jkvm.device.virtio;

import io.jkvm.device.virtio.pci.VirtioPciDevice;
import io.jkvm.device.virtio.pci.VirtioPciLayout;
import io.jkvm.storage.DiskConfig;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static io.jkvm.device.virtio.VirtioBlock.S_IOERR;
import static io.jkvm.device.virtio.VirtioBlock.S_OK;
import static io.jkvm.device.virtio.VirtioBlock.S_UNSUPP;
import static org.assertj.core.api.Assertions.assertThat;

/** virtio-blk requests through the real transport against a temp image file. */
class VirtioBlockTest {
    private static final long HDR = 0x8000;
    private static final long DATA = 0x9000;
    private static final long STATUS = 0xf000;
    private static final int SECTORS = 64;

    @TempDir
    Path dir;
    private Path file;
    private VirtioDriver drv;
    private DriverQueue dq;
    private int requests;
    private VirtioBlock block;

    private void start(boolean readOnly) throws IOException {
        file = dir.resolve("disk.img");
        byte[] init = new byte[SECTORS * 512];
        for (int i = 0; i < init.length; i++) {
            init[i] = (byte) (i / 512);
        }
        Files.write(file, init);
        block = VirtioBlock.open(new DiskConfig(file, readOnly, "serial-123"));
        drv = new VirtioDriver(block);
        long f = drv.deviceFeatures();
        assertThat(drv.negotiate(f)).isTrue();
        dq = drv.setupQueue(0, 0x1000, 16, VirtioPciDevice.NO_VECTOR);
        drv.driverOk();
    }

    @AfterEach
    void close() {
        if (drv != null) {
            drv.close();
        }
    }

    /** Submits header (+ readable data) + writable data + status; returns {status, usedLen}. */
    private int[] submit(int type, long sector, byte[] out, int inLen) {
        ByteBuffer h = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putInt(type).putInt(0).putLong(sector);
        drv.gm.memory.write(HDR, h.array());
        drv.gm.memory.writeByte(STATUS, (byte) 0x55);
        int d = 0;
        dq.setDesc(d, HDR, 16, Virtqueue.F_NEXT, d + 1);
        d++;
        if (out != null) {
            drv.gm.memory.write(DATA, out);
            dq.setDesc(d, DATA, out.length, Virtqueue.F_NEXT, d + 1);
            d++;
        }
        if (inLen > 0) {
            dq.setDesc(d, DATA, inLen, Virtqueue.F_WRITE | Virtqueue.F_NEXT, d + 1);
            d++;
        }
        dq.setDesc(d, STATUS, 1, Virtqueue.F_WRITE, 0);
        dq.publish(0);
        drv.kick(0);
        requests++;
        drv.awaitUsed(dq, requests);
        int[] used = dq.usedElem(requests - 1);
        return new int[] {drv.gm.memory.readByte(STATUS), used[1]};
    }

    @Test
    void configAndFeatures() throws IOException {
        start(false);
        assertThat(drv.read(0x2000, 8)).as("capacity").isEqualTo(SECTORS);
        assertThat(drv.read(0x2000 + 20, 4)).as("blk_size").isEqualTo(512);
        long f = drv.dev.offeredFeatures();
        assertThat(VirtioFeatures.has(f, VirtioBlock.F_FLUSH)).isTrue();
        assertThat(VirtioFeatures.has(f, VirtioBlock.F_DISCARD)).isTrue();
        assertThat(VirtioFeatures.has(f, VirtioBlock.F_WRITE_ZEROES)).isTrue();
        assertThat(VirtioFeatures.has(f, VirtioBlock.F_RO)).isFalse();
    }

    @Test
    void readWriteFlush() throws IOException {
        start(false);
        int[] r = submit(VirtioBlock.T_IN, 3, null, 1024);
        assertThat(r).containsExactly(S_OK, 1025);
        byte[] got = drv.gm.memory.read(DATA, 1024);
        assertThat(got[0]).isEqualTo((byte) 3);
        assertThat(got[1023]).isEqualTo((byte) 4);

        byte[] data = new byte[512];
        Arrays.fill(data, (byte) 0xab);
        assertThat(submit(VirtioBlock.T_OUT, 10, data, 0)[0]).isEqualTo(S_OK);
        assertThat(submit(VirtioBlock.T_FLUSH, 0, null, 0)[0]).isEqualTo(S_OK);
        byte[] disk = Files.readAllBytes(file);
        assertThat(disk[10 * 512]).isEqualTo((byte) 0xab);
        assertThat(disk[11 * 512 - 1]).isEqualTo((byte) 0xab);
        assertThat(disk[11 * 512]).isEqualTo((byte) 11);
    }

    @Test
    void outOfRangeAndMalformedRequestsFailWithIoerr() throws IOException {
        start(false);
        assertThat(submit(VirtioBlock.T_IN, SECTORS - 1, null, 1024)[0]).as("runs past the end").isEqualTo(S_IOERR);
        assertThat(submit(VirtioBlock.T_IN, SECTORS, null, 512)[0]).isEqualTo(S_IOERR);
        assertThat(submit(VirtioBlock.T_IN, Long.MAX_VALUE, null, 512)[0]).isEqualTo(S_IOERR);
        assertThat(submit(VirtioBlock.T_IN, -1L, null, 512)[0]).as("sector 2^64-1").isEqualTo(S_IOERR);
        assertThat(submit(VirtioBlock.T_IN, 0, null, 100)[0]).as("partial sector").isEqualTo(S_IOERR);
        assertThat(submit(VirtioBlock.T_OUT, Long.MAX_VALUE / 256, new byte[512], 0)[0]).isEqualTo(S_IOERR);
        assertThat(submit(99, 0, null, 0)[0]).isEqualTo(S_UNSUPP);
        assertThat(submit(VirtioBlock.T_IN, SECTORS - 2, null, 1024)[0]).as("last sectors are fine").isEqualTo(S_OK);
    }

    @Test
    void getIdReturnsTheSerial() throws IOException {
        start(false);
        int[] r = submit(VirtioBlock.T_GET_ID, 0, null, 20);
        assertThat(r[0]).isEqualTo(S_OK);
        byte[] id = drv.gm.memory.read(DATA, 20);
        assertThat(new String(id, StandardCharsets.US_ASCII)).startsWith("serial-123").contains("\0");
    }

    @Test
    void discardAndWriteZeroes() throws IOException {
        start(false);
        ByteBuffer seg = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(8).putInt(8).putInt(0);
        assertThat(submit(VirtioBlock.T_WRITE_ZEROES, 0, seg.array(), 0)[0]).isEqualTo(S_OK);
        ByteBuffer seg2 = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(20).putInt(4).putInt(0);
        assertThat(submit(VirtioBlock.T_DISCARD, 0, seg2.array(), 0)[0]).isEqualTo(S_OK);
        byte[] disk = Files.readAllBytes(file);
        for (int i = 8 * 512; i < 16 * 512; i++) {
            assertThat(disk[i]).isZero();
        }
        assertThat(disk[7 * 512]).isEqualTo((byte) 7);
        assertThat(disk[16 * 512]).isEqualTo((byte) 16);
        ByteBuffer unmap = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(0).putInt(1).putInt(1);
        assertThat(submit(VirtioBlock.T_DISCARD, 0, unmap.array(), 0)[0]).as("unmap flag on discard").isEqualTo(S_UNSUPP);
        ByteBuffer past = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(SECTORS - 1).putInt(2).putInt(0);
        assertThat(submit(VirtioBlock.T_WRITE_ZEROES, 0, past.array(), 0)[0]).isEqualTo(S_IOERR);
    }

    @Test
    void whileAMigrationCopiesTheDiskWritesDiscardsAndZeroesAreLoggedAndReadsAreNot() throws IOException {
        start(false);
        assertThat(submit(VirtioBlock.T_OUT, 1, new byte[512], 0)[0]).isEqualTo(S_OK);
        io.jkvm.storage.DirtyChunks log = new io.jkvm.storage.DirtyChunks(SECTORS * 512);
        block.logWrites(log);
        assertThat(submit(VirtioBlock.T_IN, 3, null, 1024)[0]).isEqualTo(S_OK);
        assertThat(log.count()).as("a read changes nothing").isZero();
        assertThat(submit(VirtioBlock.T_OUT, 10, new byte[512], 0)[0]).isEqualTo(S_OK);
        assertThat(log.collect().next(0)).isZero();
        ByteBuffer seg = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(8).putInt(8).putInt(0);
        assertThat(submit(VirtioBlock.T_WRITE_ZEROES, 0, seg.array(), 0)[0]).isEqualTo(S_OK);
        assertThat(log.collect().next(0)).isZero();
        assertThat(submit(VirtioBlock.T_DISCARD, 0, seg.array(), 0)[0]).isEqualTo(S_OK);
        assertThat(log.collect().next(0)).isZero();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> block.replaceImage(block.image()))
                .as("a drive being copied keeps its image").hasMessageContaining("live migration is copying");
        block.logWrites(null);
        assertThat(submit(VirtioBlock.T_OUT, 12, new byte[512], 0)[0]).isEqualTo(S_OK);
        assertThat(log.count()).as("no log once the migration ended").isZero();
    }

    @Test
    void readOnlyDiskRejectsWrites() throws IOException {
        start(true);
        assertThat(VirtioFeatures.has(drv.dev.offeredFeatures(), VirtioBlock.F_RO)).isTrue();
        assertThat(submit(VirtioBlock.T_OUT, 0, new byte[512], 0)[0]).isEqualTo(S_IOERR);
        assertThat(submit(VirtioBlock.T_IN, 1, null, 512)[0]).isEqualTo(S_OK);
        assertThat(Files.readAllBytes(file)[0]).isZero();
    }

    @Test
    void requestWithoutStatusByteIsDroppedWithoutIo() throws IOException {
        start(false);
        ByteBuffer h = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putInt(VirtioBlock.T_OUT).putInt(0).putLong(0);
        drv.gm.memory.write(HDR, h.array());
        dq.setDesc(0, HDR, 16, Virtqueue.F_NEXT, 1);
        dq.setDesc(1, DATA, 512, 0, 0);
        dq.publish(0);
        drv.kick(0);
        drv.awaitUsed(dq, 1);
        assertThat(dq.usedElem(0)[1]).isZero();
        assertThat(Files.readAllBytes(file)[0]).isZero();
    }

    /**
     * A media change (PATCH /drives after boot): with the function's I/O stopped the image is
     * swapped; the driver sees the new capacity behind a new config_generation and a configuration
     * interrupt (virtio 1.2 §4.1.4.3, §4.1.4.5), and reads reach the new image. A new image of
     * another writability is refused and the drive stays as it was.
     */
    @Test
    void aNewImageIsSwappedInWithAConfigurationChangeTheDriverSees() throws IOException {
        start(false);
        assertThat(submit(VirtioBlock.T_IN, 3, null, 512)[0]).isEqualTo(S_OK);
        assertThat(drv.gm.memory.readByte(DATA)).as("old image, sector 3").isEqualTo((byte) 3);
        VirtioBlock blk = (VirtioBlock) drv.dev.device();
        Path nextFile = dir.resolve("next.img");
        byte[] next = new byte[2 * SECTORS * 512];
        Arrays.fill(next, (byte) 0x7e);
        Files.write(nextFile, next);
        long generation = drv.read(VirtioPciLayout.COMMON_OFFSET + 21, 1);
        assertThat(drv.read(VirtioPciLayout.ISR_OFFSET, 1) & 2).as("no configuration change before (reading clears the ISR)").isZero();

        io.jkvm.storage.RawImage readOnly = io.jkvm.storage.RawImage.open(nextFile, true);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> blk.replaceImage(readOnly))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("writability");
        readOnly.close();
        assertThat(drv.read(0x2000, 8)).as("capacity unchanged after a refusal").isEqualTo(SECTORS);

        drv.dev.suspendIo();
        io.jkvm.storage.DiskImage old = blk.replaceImage(io.jkvm.storage.RawImage.open(nextFile, false));
        drv.dev.resumeIo();
        old.close();
        assertThat(drv.read(VirtioPciLayout.ISR_OFFSET, 1) & 2).as("ISR configuration bit").isEqualTo(2);
        assertThat(drv.read(VirtioPciLayout.COMMON_OFFSET + 21, 1)).as("config_generation").isNotEqualTo(generation);
        assertThat(drv.read(0x2000, 8)).as("new capacity").isEqualTo(2 * SECTORS);
        assertThat(submit(VirtioBlock.T_IN, 100, null, 512)[0]).as("a sector only the new image has").isEqualTo(S_OK);
        assertThat(drv.gm.memory.readByte(DATA)).isEqualTo((byte) 0x7e);
    }
}
