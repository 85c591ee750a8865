package io.jkvm.device.virtio;

import java.security.SecureRandom;
import java.util.Random;

/**
 * virtio-rng, the entropy device (virtio 1.2 §5.4): one request queue; each chain's writable
 * buffers are filled with random bytes from {@link SecureRandom}. No features, no config.
 *
 * <p>A chain with no writable buffer is returned with length 0 (§5.4.6.1: the driver MUST NOT
 * place device-readable buffers; nothing to fill). At most {@link #MAX_BYTES_PER_REQUEST}
 * bytes are produced per chain so one huge request cannot monopolise the I/O thread; the used
 * length says how much was filled.
 */
public final class VirtioRng implements VirtioDevice {
    public static final int DEVICE_TYPE = 4;
    public static final int QUEUE_SIZE = 256;
    public static final int MAX_BYTES_PER_REQUEST = 64 * 1024;

    private final Random random;
    /** Random bytes are made this many at a time (I/O thread only): no allocation sized by the guest. */
    private final byte[] chunk = new byte[512];
    private VirtioContext context;

    public VirtioRng() {
        this(new SecureRandom());
    }

    /** With a specific source (tests). */
    public VirtioRng(Random random) {
        this.random = random;
    }

    @Override
    public int deviceType() {
        return DEVICE_TYPE;
    }

    @Override
    public int pciClassCode() {
        return 0xff_00_00; // "device does not fit any defined class"
    }

    @Override
    public int queueCount() {
        return 1;
    }

    @Override
    public int queueMaxSize(int index) {
        return QUEUE_SIZE;
    }

    @Override
    public long deviceFeatures() {
        return 0;
    }

    @Override
    public int configSize() {
        return 0;
    }

    @Override
    public void readConfig(int offset, byte[] dst) {}

    @Override
    public void activate(VirtioContext ctx) {
        this.context = ctx;
    }

    @Override
    public void queueNotified(int index) throws VirtqueueException {
        context.drain(index, this::fill);
    }

    private int fill(DescriptorChain c) {
        int n = Math.min(c.writableLength(), MAX_BYTES_PER_REQUEST);
        if (n <= 0) {
            return 0;
        }
        int done = 0;
        while (done < n) {
            random.nextBytes(chunk);
            done += c.write(done, chunk, 0, Math.min(chunk.length, n - done));
        }
        return done;
    }

    @Override
    public void reset() {
        context = null;
    }
}
