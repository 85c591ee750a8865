package io.jkvm.vmm;

import io.jkvm.testing.Patience;
import io.jkvm.arch.x86.Layout;
import io.jkvm.device.legacy.Serial16550;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.RecordingSink;
import io.jkvm.testing.TestGuest;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** Direct-KVM: a polled-UART test guest prints, and echoes what the host types, through the 16550 model. */
@Tag("kvm")
class SerialGuestTest {
    @BeforeEach
    void kvm() {
        KvmAvailable.assume();
    }

    @Test
    void uartOutputAndInputRoundTrip() throws Exception {
        // Prints "ready\n", then echoes each received byte with its case flipped until 'q'.
        byte[] code = TestGuest.assemble("""
                .code16
                    mov $msg, %si
                print:
                    mov (%si), %al
                    test %al, %al
                    jz echo
                    mov $0x3f8, %dx
                    out %al, %dx
                    inc %si
                    jmp print
                echo:
                    mov $0x3fd, %dx
                wait:
                    in %dx, %al
                    test $1, %al
                    jz wait
                    mov $0x3f8, %dx
                    in %dx, %al
                    cmp $'q', %al
                    je done
                    xor $0x20, %al
                    out %al, %dx
                    jmp echo
                done:
                    hlt
                msg:
                    .asciz "ready\\n"
                """, 0x1000);
        try (Machine m = Machine.create(new Machine.Options(1, 2 << 20, false, io.jkvm.memory.RamBacking.PAGES))) {
            RecordingSink out = new RecordingSink();
            Serial16550 uart = new Serial16550(m.irqLine(Layout.COM1_IRQ), out);
            m.pio().register(Layout.COM1_PORT, Serial16550.REGISTER_COUNT, uart);
            TestGuest.startRealMode(m.vcpus().get(0), m.memory(), code, 0x1000);
            m.start();
            assertThat(out.awaitContains("ready\n", Patience.seconds(30))).as("guest printed ready").isTrue();
            byte[] typed = "jKvm".getBytes(StandardCharsets.US_ASCII);
            int sent = 0;
            while (sent < typed.length) {
                sent += uart.receive(typed, sent, typed.length - sent);
                if (sent < typed.length) {
                    assertThat(uart.awaitRxSpace(Patience.secondsOf(30), TimeUnit.SECONDS))
                            .as("the guest reads byte %d of its input; it echoed: %s", sent, out.text()).isTrue();
                }
            }
            assertThat(out.awaitContains("JkVM", Patience.seconds(30))).as("echo: " + out.text()).isTrue();
            byte[] quit = {'q'};
            while (uart.receive(quit, 0, 1) == 0) {
                assertThat(uart.awaitRxSpace(Patience.secondsOf(30), TimeUnit.SECONDS))
                        .as("the guest reads the 'q'; it echoed: %s", out.text()).isTrue();
            }
            MachineExit exit = m.awaitExit(Patience.seconds(30));
            assertThat(exit.reason()).isEqualTo(StopReason.HALTED);
            assertThat(out.text()).isEqualTo("ready\nJkVM");
        }
    }
}
