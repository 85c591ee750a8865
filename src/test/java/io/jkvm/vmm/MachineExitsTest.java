package io.jkvm.vmm;

import io.jkvm.testing.Patience;
import io.jkvm.device.BusDevice;
import io.jkvm.kvm.KvmIoctls;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.TestGuest;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/** Direct-KVM: exits from small test guests reach the right device and stop reasons are right. */
@Tag("kvm")
class MachineExitsTest {
    @BeforeEach
    void kvm() {
        KvmAvailable.assume();
    }

    @Test
    void portWritesReachTheDeviceAndHltStopsAMachineWithoutIrqchip() throws Exception {
        byte[] code = TestGuest.assemble("""
                .code16
                    mov $0x3f8, %dx
                    mov $'H', %al
                    out %al, %dx
                    mov $'i', %al
                    out %al, %dx
                    hlt
                """, 0x1000);
        try (Machine m = Machine.create(new Machine.Options(1, 2 << 20, false, io.jkvm.memory.RamBacking.PAGES))) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            java.util.concurrent.atomic.AtomicReference<String> comm = new java.util.concurrent.atomic.AtomicReference<>();
            m.pio().register(0x3f8, 1, new BusDevice() {
                public long read(long offset, int size) {
                    return 0;
                }

                public void write(long offset, int size, long value) {
                    out.write((int) value);
                    // Exits are handled on the vCPU's own thread: its OS name is what Kata looks for.
                    try {
                        comm.compareAndSet(null, java.nio.file.Files.readString(java.nio.file.Path.of("/proc/thread-self/comm")).strip());
                    } catch (java.io.IOException e) {
                        comm.compareAndSet(null, e.toString());
                    }
                }
            });
            TestGuest.startRealMode(m.vcpus().get(0), m.memory(), code, 0x1000);
            m.start();
            MachineExit exit = m.awaitExit(Patience.seconds(30));
            assertThat(exit).isNotNull();
            assertThat(exit.reason()).isEqualTo(StopReason.HALTED);
            assertThat(out.toString()).isEqualTo("Hi");
            assertThat(comm.get()).as("the vCPU thread's OS name, as Firecracker's").isEqualTo("fc_vcpu 0");
            assertThat(m.exitCount(KvmIoctls.KVM_EXIT_IO)).isEqualTo(2);
        }
    }
}
