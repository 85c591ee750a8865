package io.jkvm.device.virtio;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import io.jkvm.device.virtio.pci.VirtioPciDevice;
import io.jkvm.device.virtio.pci.VirtioPciLayout;
import io.jkvm.testing.ThreadCost;

import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A guest driver for fuzzing one virtio-pci function: a fuzz input is a program of register
 * accesses (common config, ISR, device config, notify, MSI-X table, PCI config space and its
 * VIRTIO_PCI_CAP_PCI_CFG window), guest-memory writes, descriptor and avail-ring edits, kicks and
 * backend events, interpreted against a real {@link VirtioPciDevice} and device model. The rig
 * is reused from input to input (reset in between), as a VMM reuses its devices.
 *
 * <p>Oracles, beyond "no exception escapes": every reset completes within {@link #HANG} whatever
 * the guest did; the I/O thread completes a turn within {@link #HANG} (no unbounded work in a
 * handler, no lock held for ever); it uses at most {@link #CPU_PER_TURN} of CPU and allocates at
 * most {@link #BYTES_PER_TURN} per turn of its poll loop (no allocation sized by a guest value);
 * a device that is not live (FAILED, NEEDS_RESET, reset) polls none of its descriptors; and
 * nothing was written outside guest RAM (guard bytes).
 */
final class VirtioFuzzRig implements AutoCloseable {
    /** Hang detector for a reset or an I/O-thread turn: seconds, where a correct one takes micro- to milliseconds. */
    static final Duration HANG = Duration.ofSeconds(5);
    static final long CPU_PER_TURN = TimeUnit.MILLISECONDS.toNanos(50);
    static final long CPU_BASE = TimeUnit.MILLISECONDS.toNanos(200);
    static final long BYTES_PER_TURN = 512 << 10;
    /**
     * Allocation allowed per input on top of the per-turn bound: the first run of a code path on
     * the I/O thread (class initialisation, the first log line) allocates once. A fuzzing JVM saw
     * 2.2 MB for such an input that allocates nothing on replay; a guest-sized allocation (the
     * bug this catches) is up to the 256 MiB chain limit.
     */
    static final long BYTES_BASE = 4 << 20;
    private static final int MAX_OPS = 64;
    private static final long[] REGIONS = {GuardedMemory.LOW, GuardedMemory.HIGH};

    /** What a device adds to the program: its backend's events (a frame on the TAP, typed input). */
    interface Backend {
        /** Resets the backend between inputs. */
        default void reset() {}

        /** One backend event from the input. */
        default void event(FuzzedDataProvider data) {}
    }

    final VirtioDriver drv;
    private final Backend backend;
    private final int queues;
    private final DriverQueue[] rings;
    /** The "vCPU": register writes that may wait for the device lock (reset) run here, under the hang detector. */
    private final ExecutorService vcpu = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "fuzz-vcpu");
        t.setDaemon(true);
        return t;
    });

    VirtioFuzzRig(VirtioDevice device, Backend backend) {
        this.drv = new VirtioDriver(device);
        this.backend = backend;
        this.queues = device.queueCount();
        this.rings = new DriverQueue[queues];
    }

    /** Runs one input and checks the oracles; throws AssertionError for a finding. */
    void run(FuzzedDataProvider data) {
        onVcpu("PCI function reset before the input", () -> {
            drv.dev.reset();
            mapBar();
        });
        drv.gm.memory.fill(GuardedMemory.LOW, GuardedMemory.REGION, (byte) 0);
        drv.gm.memory.fill(GuardedMemory.HIGH, GuardedMemory.REGION, (byte) 0);
        backend.reset();
        java.util.Arrays.fill(rings, null);
        VirtioPciDevice.IoStats s0 = drv.dev.ioStats();
        ThreadCost c0 = ThreadCost.of(s0.threadId());

        for (int ops = 0; ops < MAX_OPS && data.remainingBytes() > 0; ops++) {
            step(data);
        }
        sync("after the input");
        checkWatches("after the input");

        VirtioPciDevice.IoStats s1 = drv.dev.ioStats();
        ThreadCost cost = ThreadCost.of(s1.threadId()).since(c0);
        long turns = s1.loopIterations() - s0.loopIterations();
        if (cost.cpuNanos() > CPU_BASE + turns * CPU_PER_TURN) {
            throw new AssertionError("I/O thread used " + cost + " in " + turns + " turns (bound: "
                    + (CPU_BASE + turns * CPU_PER_TURN) / 1_000_000 + " ms CPU)");
        }
        if (cost.allocatedBytes() > BYTES_BASE + turns * BYTES_PER_TURN) {
            throw new AssertionError("I/O thread allocated " + cost.allocatedBytes() + " bytes in " + turns + " turns (bound: "
                    + (BYTES_BASE + turns * BYTES_PER_TURN) + ")");
        }
        // The input may have moved or disabled the BAR: put it back, then reset as a driver does (status 0).
        onVcpu("BAR remap after the input", this::mapBar);
        onVcpu("reset after the input", () -> drv.setStatus(0));
        if (drv.dev.status() != 0) {
            throw new AssertionError("status " + drv.dev.status() + " after a reset");
        }
        checkWatches("after the reset");
        drv.gm.assertGuardsIntact();
    }

    private void step(FuzzedDataProvider d) {
        switch (d.consumeInt(0, 13)) {
            case 0 -> initDevice(d);
            case 1 -> {
                int q = d.consumeInt(0, queues - 1);
                if (rings[q] != null) {
                    int i = d.consumeInt(0, rings[q].size - 1);
                    rings[q].setDesc(i, address(d), length(d), d.consumeInt(0, 7), d.consumeInt(0, rings[q].size));
                }
            }
            case 2 -> {
                int q = d.consumeInt(0, queues - 1);
                if (rings[q] != null) {
                    rings[q].publish(d.consumeInt(0, rings[q].size));
                }
            }
            case 3 -> {
                int q = d.consumeInt(0, queues);
                drv.kick(Math.min(q, queues - 1));
            }
            case 4 -> sync("after a kick");
            case 5 -> {
                long a = address(d);
                byte[] b = d.consumeBytes(64);
                if (drv.gm.memory.isValid(a, b.length)) {
                    drv.gm.memory.write(a, b);
                }
            }
            case 6 -> writeBar(barOffset(d), d.pickValue(new int[] {1, 2, 4, 8}), d.consumeLong());
            case 7 -> drv.read(barOffset(d), d.pickValue(new int[] {1, 2, 4, 8}));
            case 8 -> {
                int reg = d.consumeInt(0, 63);
                int size = d.pickValue(new int[] {1, 2, 4});
                int off = d.consumeInt(0, 4 - size);
                int v = d.consumeInt();
                onVcpu("PCI config write", () -> drv.dev.writeConfig(reg, off, size, v));
            }
            case 9 -> drv.dev.readConfig(d.consumeInt(0, 63));
            case 10 -> {
                int status = d.consumeInt(0, 255);
                onVcpu("status write " + status, () -> drv.setStatus(status));
                checkWatches("after status " + status);
            }
            case 11 -> backend.event(d);
            case 12 -> {
                onVcpu("suspendIo", () -> {
                    drv.dev.suspendIo();
                    return null;
                });
                drv.dev.resumeIo();
            }
            default -> {
                if (d.consumeBoolean()) {
                    drv.enableMsix();
                }
            }
        }
    }

    /** The usual driver start (§3.1.1) with features and rings from the input. */
    private void initDevice(FuzzedDataProvider d) {
        long offered = drv.deviceFeatures();
        long features = (offered & d.consumeLong()) | VirtioFeatures.bit(VirtioFeatures.VERSION_1);
        onVcpu("negotiation", () -> drv.negotiate(features));
        for (int q = 0; q < queues; q++) {
            if (d.consumeBoolean()) {
                int max = drv.dev.device().queueMaxSize(q);
                int size = Math.min(max, 1 << d.consumeInt(0, 8));
                long base = REGIONS[d.consumeInt(0, 1)] + 16L * d.consumeInt(0, (int) (GuardedMemory.REGION / 16) - 1);
                int qq = q;
                int vector = d.consumeBoolean() ? q : VirtioPciDevice.NO_VECTOR;
                DriverQueue dq = new DriverQueue(drv.gm.memory, base, size);
                onVcpu("queue setup", () -> drv.setupQueue(qq, dq, vector));
                rings[q] = drv.gm.memory.isValid(base, dq.footprint()) ? dq : null;
            }
        }
        if (d.consumeBoolean()) {
            onVcpu("DRIVER_OK", () -> drv.setStatus(drv.status() | DeviceStatus.DRIVER_OK));
        }
    }

    /** BAR 0 at {@link VirtioDriver#BAR}, memory decoding and bus mastering on (as the driver found it). */
    private void mapBar() {
        drv.dev.config().setBarAddress(VirtioPciLayout.BAR, VirtioDriver.BAR);
        drv.dev.writeConfig(io.jkvm.device.pci.PciConfigSpace.COMMAND / 4, 0, 2,
                io.jkvm.device.pci.PciConfigSpace.COMMAND_MEMORY | io.jkvm.device.pci.PciConfigSpace.COMMAND_BUS_MASTER);
    }

    private void writeBar(int offset, int size, long value) {
        onVcpu("BAR write at 0x" + Integer.toHexString(offset), () -> drv.write(offset, size, value));
    }

    /** Mostly where the registers are, sometimes anywhere in the BAR. */
    private static int barOffset(FuzzedDataProvider d) {
        int[] bases = {VirtioPciLayout.COMMON_OFFSET, VirtioPciLayout.ISR_OFFSET, VirtioPciLayout.DEVICE_OFFSET,
                VirtioPciLayout.NOTIFY_OFFSET, VirtioPciLayout.MSIX_TABLE_OFFSET, VirtioPciLayout.MSIX_PBA_OFFSET};
        return d.consumeBoolean() ? d.pickValue(bases) + d.consumeInt(0, 0x40) : d.consumeInt(0, (int) VirtioPciLayout.BAR_SIZE - 1);
    }

    /** A guest address: usually inside one of the RAM regions, sometimes in the hole or anywhere. */
    private static long address(FuzzedDataProvider d) {
        return switch (d.consumeInt(0, 3)) {
            case 0, 1 -> REGIONS[d.consumeInt(0, 1)] + d.consumeInt(0, (int) GuardedMemory.REGION - 1);
            case 2 -> GuardedMemory.LOW + GuardedMemory.REGION + d.consumeInt(0, 0x10000);
            default -> d.consumeLong();
        };
    }

    private static long length(FuzzedDataProvider d) {
        return switch (d.consumeInt(0, 3)) {
            case 0 -> d.consumeInt(0, 64);
            case 1 -> d.consumeInt(0, 4096);
            case 2 -> d.consumeInt(0, (int) GuardedMemory.REGION);
            default -> d.consumeInt() & 0xffff_ffffL;
        };
    }

    private void sync(String when) {
        if (!drv.dev.syncIo(HANG)) {
            throw new AssertionError("the I/O thread did not complete a turn within " + HANG.toSeconds() + " s " + when);
        }
    }

    /** A device that is not live polls none of its descriptors (its TAP, its input). */
    private void checkWatches(String when) {
        int status = drv.dev.status();
        boolean live = (status & DeviceStatus.DRIVER_OK) != 0
                && (status & (DeviceStatus.FAILED | DeviceStatus.DEVICE_NEEDS_RESET)) == 0;
        if (!live && drv.dev.ioStats().armedWatches() != 0) {
            throw new AssertionError("status " + status + " " + when + " but " + drv.dev.ioStats().armedWatches()
                    + " descriptor(s) still polled");
        }
    }

    private interface VcpuAction {
        Object call() throws Exception;
    }

    private void onVcpu(String what, Runnable r) {
        onVcpu(what, () -> {
            r.run();
            return null;
        });
    }

    /** Runs {@code a} on the rig's vCPU thread; a finding if it does not return within {@link #HANG}. */
    private void onVcpu(String what, VcpuAction a) {
        Future<Object> f = vcpu.submit(a::call);
        try {
            f.get(HANG.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new AssertionError(what + " (on the vCPU) did not return within " + HANG.toSeconds() + " s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new AssertionError(what + " threw on the vCPU: " + e.getCause(), e.getCause());
        }
    }

    @Override
    public void close() {
        vcpu.shutdownNow();
        drv.close();
    }
}
