package io.jkvm.device.virtio;

import io.jkvm.device.virtio.pci.VirtioPciDevice;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;

class VirtioConsoleTest {
    @Test
    void transmitsToTheOutputAndReceivesFromTheInput() throws Exception {
        PipedOutputStream typed = new PipedOutputStream();
        PipedInputStream in = new PipedInputStream(typed);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (VirtioDriver drv = new VirtioDriver(new VirtioConsole(in, out, 80, 25))) {
            assertThat(drv.read(0x2000, 2)).as("cols").isEqualTo(80);
            assertThat(drv.read(0x2002, 2)).as("rows").isEqualTo(25);
            assertThat(drv.negotiate(drv.deviceFeatures())).isTrue();
            DriverQueue rx = drv.setupQueue(VirtioConsole.RX, 0x1000, 8, VirtioPciDevice.NO_VECTOR);
            DriverQueue tx = drv.setupQueue(VirtioConsole.TX, 0x3000, 8, VirtioPciDevice.NO_VECTOR);
            drv.driverOk();

            drv.gm.memory.write(0x8000, "hello".getBytes(StandardCharsets.US_ASCII));
            tx.setDesc(0, 0x8000, 5, 0, 0);
            tx.publish(0);
            drv.kick(VirtioConsole.TX);
            drv.awaitUsed(tx, 1);
            VirtioDriver.await("output", () -> out.toString(StandardCharsets.US_ASCII).equals("hello"));

            rx.setDesc(0, 0x9000, 64, Virtqueue.F_WRITE, 0);
            rx.publish(0);
            drv.kick(VirtioConsole.RX);
            typed.write("ls\n".getBytes(StandardCharsets.US_ASCII));
            typed.flush();
            drv.awaitUsed(rx, 1);
            assertThat(rx.usedElem(0)[1]).isEqualTo(3);
            assertThat(new String(drv.gm.memory.read(0x9000, 3), StandardCharsets.US_ASCII)).isEqualTo("ls\n");
            VirtioDriver.await("INTx", drv.intx::level);
        }
    }
}
