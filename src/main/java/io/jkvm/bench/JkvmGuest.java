package io.jkvm.bench;

import io.jkvm.device.BusDevice;
import io.jkvm.kvm.Regs;
import io.jkvm.kvm.Sregs;
import io.jkvm.kvm.VcpuFd;
import io.jkvm.snapshot.SnapshotKey;
import io.jkvm.snapshot.Snapshots;
import io.jkvm.vmm.Machine;
import io.jkvm.vmm.MachineExit;
import io.jkvm.vmm.StopReason;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Runs a {@link BenchGuest} image on jkvm's own machine ({@link Machine}: vCPU thread, KVM_RUN
 * loop, exit dispatch through the port and MMIO buses), so the exit figures are the product path.
 * Devices: a write counter on the benchmark port and MMIO page, the debug console (port 0xe9) to
 * an output stream, and the done port (0xf4), which stops the machine like QEMU's isa-debug-exit.
 */
public final class JkvmGuest implements AutoCloseable {
    private final Machine machine;
    private final Counter counter = new Counter();
    private volatile long doneNanos;
    private volatile int doneValue = -1;

    /** Counts writes; the only caller is the single vCPU thread. */
    static final class Counter implements BusDevice {
        long writes;

        @Override
        public long read(long offset, int size) {
            return 0;
        }

        @Override
        public void write(long offset, int size, long value) {
            writes++;
        }
    }

    private JkvmGuest(Machine machine) {
        this.machine = machine;
    }

    /**
     * A machine with the image loaded at {@link BenchGuest#LOAD_ADDRESS}, entered at f000:fff0 in real
     * mode (the reset vector's segment, so the guest's far jump behaves as at reset).
     */
    public static JkvmGuest create(byte[] image, long ramBytes, boolean irqchip, OutputStream debugcon)
            throws IOException {
        Machine m = Machine.create(new Machine.Options(1, ramBytes, irqchip, io.jkvm.memory.RamBacking.PAGES));
        try {
            m.memory().write(BenchGuest.LOAD_ADDRESS, image);
            JkvmGuest g = attachTo(m, debugcon);
            VcpuFd vcpu = m.vcpus().get(0);
            Sregs s = vcpu.getSregs();
            Sregs.Seg cs = s.cs();
            s.cs(new Sregs.Seg(BenchGuest.LOAD_ADDRESS, 0xffff, 0xf000, cs.type(), true, 0, false, true, false,
                    false, false, false));
            vcpu.setSregs(s);
            Regs r = new Regs();
            r.rip(0xfff0);
            r.rflags(2);
            vcpu.setRegs(r);
            return g;
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /**
     * A guest restored from a snapshot of a bench guest ({@link Snapshots#save} with no device
     * states: the bench devices keep none), ready to start where it was paused.
     */
    public static JkvmGuest restore(Path stateFile, Path memFile, SnapshotKey key, OutputStream debugcon)
            throws IOException {
        Machine m = Snapshots.restore(stateFile, memFile, key).machine();
        try {
            return attachTo(m, debugcon);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
    }

    /** The bench devices on {@code m}'s buses. */
    public static JkvmGuest attachTo(Machine m, OutputStream debugcon) {
        JkvmGuest g = new JkvmGuest(m);
        m.pio().register(BenchGuest.PIO_PORT, 1, g.counter);
        m.mmio().register(BenchGuest.MMIO_ADDR, 0x1000, g.counter);
        m.pio().register(BenchGuest.DEBUGCON_PORT, 1, new BusDevice() {
            public long read(long offset, int size) {
                return 0xe9; // what QEMU's debugcon answers: lets a guest detect it
            }

            public void write(long offset, int size, long value) {
                try {
                    debugcon.write((int) value);
                    debugcon.flush();
                } catch (IOException e) {
                    // nobody listening: the guest does not care
                }
            }
        });
        m.pio().register(BenchGuest.DONE_PORT, 1, new BusDevice() {
            public long read(long offset, int size) {
                return 0;
            }

            public void write(long offset, int size, long value) {
                g.doneNanos = System.nanoTime();
                g.doneValue = (int) (value & 0xff);
                m.requestStop(StopReason.STOPPED, "guest wrote the done port");
            }
        });
        return g;
    }

    /**
     * Starts a {@link BenchGuest.Kind#SPIN} or {@link BenchGuest.Kind#TOUCH} image on a 1-vCPU machine
     * and returns once the guest has touched its RAM (its 'R'); the machine keeps running.
     */
    static JkvmGuest startTouched(Path image, long ramBytes, long timeoutSeconds) throws IOException, InterruptedException {
        java.util.concurrent.CountDownLatch touched = new java.util.concurrent.CountDownLatch(1);
        OutputStream debugcon = new OutputStream() {
            @Override
            public void write(int b) {
                if (b == 'R') {
                    touched.countDown();
                }
            }
        };
        JkvmGuest g = create(java.nio.file.Files.readAllBytes(image), ramBytes, true, debugcon);
        g.machine().start();
        if (!touched.await(timeoutSeconds, java.util.concurrent.TimeUnit.SECONDS)) {
            g.close();
            throw new IOException("jkvm: the guest did not touch its RAM within " + timeoutSeconds + " s");
        }
        return g;
    }

    public Machine machine() {
        return machine;
    }

    /** Port and MMIO writes the guest made to the benchmark addresses. */
    public long exits() {
        return counter.writes;
    }

    /** What the guest wrote to the done port, or -1. */
    public int doneValue() {
        return doneValue;
    }

    /**
     * Runs to the done port; returns nanoseconds from starting the vCPU to the done write.
     * Throws if the guest stopped any other way.
     */
    public long runTimed(Duration timeout) throws InterruptedException {
        long t0 = System.nanoTime();
        machine.start();
        MachineExit exit = machine.awaitExit(timeout);
        if (exit == null) {
            machine.requestStop(StopReason.STOPPED, "timed out");
            throw new IllegalStateException("jkvm guest did not finish within " + timeout.toSeconds() + " s");
        }
        if (doneValue < 0) {
            throw new IllegalStateException("jkvm guest stopped early: " + exit.reason() + " " + exit.detail());
        }
        return doneNanos - t0;
    }

    @Override
    public void close() {
        machine.close();
    }
}
