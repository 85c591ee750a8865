package io.jkvm.device.display;

import io.jkvm.arch.x86.Layout;
import io.jkvm.device.pci.PciConfigIo;
import io.jkvm.device.pci.PciConfigSpace;
import io.jkvm.device.pci.PciRoot;
import io.jkvm.display.DamageListener;
import io.jkvm.display.DisplayMode;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.Patience;
import io.jkvm.testing.TestGuest;
import io.jkvm.vmm.Machine;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The display on a real VM: its BARs programmed as firmware would (through config space, before
 * the guest runs), a 32-bit test guest sets a 1024x768x32 mode through the DISPI registers and
 * draws two pixels. The pixels reach the host's framebuffer through the KVM memory slot (no MMIO
 * exit for them), and KVM's dirty log names exactly their pages.
 */
@Tag("kvm")
class BochsDisplayKvmTest {
    static final long VRAM_BASE = 0xc000_0000L;
    static final long REGS_BASE = 0xc100_0000L;

    @BeforeEach
    void kvm() {
        KvmAvailable.assume();
    }

    @Test
    void guestSetsAModeAndDrawsWithoutExits() throws Exception {
        byte[] code = TestGuest.assemble("""
                .code32
                    movw $0, 0xc1000508         # ENABLE = 0
                    movw $32, 0xc1000506        # BPP
                    movw $1024, 0xc1000502      # XRES
                    movw $768, 0xc1000504       # YRES
                    movw $1024, 0xc100050c      # VIRT_WIDTH
                    movw $0x41, 0xc1000508      # ENABLE | LFB_ENABLED
                    movl $0x00ff0000, 0xc0000000        # (0,0) red
                    movl $0x0000ff00, 0xc0002008        # (2,2) green: row 2 = page 2
                    hlt
                """, 0x1000);
        try (Machine m = Machine.create(new Machine.Options(1, 2 << 20, false, io.jkvm.memory.RamBacking.PAGES));
                Vram vram = Vram.allocate(4L << 20)) {
            PciRoot root = new PciRoot();
            m.pio().register(Layout.PCI_CONFIG_PORT, PciConfigIo.LENGTH, new PciConfigIo(root));
            KvmVramMapping mapping = new KvmVramMapping(m.vm(), m.allocateMemorySlot(), vram);
            try (BochsDisplay dev = new BochsDisplay(vram, mapping, m.mmio(), Edid.forMode(1024, 768));
                    VramFramebuffer fb = new VramFramebuffer(vram, Duration.ofSeconds(1), false)) {
                assertThat(root.add(dev)).isEqualTo(1);
                fb.attach(dev);
                List<String> events = new ArrayList<>();
                fb.subscribe(new DamageListener() {
                    @Override
                    public void damaged(int x, int y, int width, int height) {
                        events.add("damaged " + x + "," + y + " " + width + "x" + height);
                    }

                    @Override
                    public void modeChanged(DisplayMode mode) {
                        events.add("mode " + mode.width() + "x" + mode.height());
                    }
                });
                dev.writeConfig(PciConfigSpace.BAR0 / 4, 0, 4, (int) VRAM_BASE);
                dev.writeConfig(PciConfigSpace.BAR0 / 4 + 2, 0, 4, (int) REGS_BASE);
                dev.writeConfig(PciConfigSpace.COMMAND / 4, 0, 2, PciConfigSpace.COMMAND_MEMORY);
                long[] bits = new long[vram.pages() / 64];
                assertThat(dev.collectDirty(bits)).as("a new slot's log is not known yet").isFalse();
                TestGuest.startProtectedMode(m.vcpus().getFirst(), m.memory(), code, 0x1000);
                m.start();
                assertThat(m.awaitExit(Patience.seconds(60))).isNotNull();

                assertThat(dev.config().mappedAddress(BochsDisplay.VRAM_BAR)).isEqualTo(VRAM_BASE);
                assertThat(dev.config().mappedAddress(BochsDisplay.MMIO_BAR)).isEqualTo(REGS_BASE);
                assertThat(fb.mode()).isEqualTo(new DisplayMode(1024, 768));
                int[] px = new int[3 * 3];
                fb.readPixels(0, 0, 3, 3, px);
                assertThat(px).containsExactly(0xff0000, 0, 0, 0, 0, 0, 0, 0, 0x00ff00);
                // The six register writes exited; the two pixel stores did not.
                assertThat(m.mmioWriteExits()).isEqualTo(6);

                assertThat(dev.collectDirty(bits)).isTrue();
                assertThat(bits[0]).as("pages 0 and 2").isEqualTo(0b101L);
                for (int i = 1; i < bits.length; i++) {
                    assertThat(bits[i]).isZero();
                }
                fb.poll();
                assertThat(events).containsExactly("mode 1024x768");
                events.clear();
                fb.poll();
                assertThat(events).as("nothing drawn since").isEmpty();
            }
        }
    }
}
