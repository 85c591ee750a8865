package io.jkvm.device.msi;

import io.jkvm.kvm.IrqRoute;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class GsiRouterTest {
    @Test
    void everyCommitCarriesTheDefaultIrqchipRoutes() {
        List<List<IrqRoute>> commits = new ArrayList<>();
        GsiRouter r = new GsiRouter(commits::add);
        int a = r.allocateMsi(0xfee0_0000L, 0x41);
        int b = r.allocateMsi(0xfee0_0000L, 0x42);
        assertThat(a).isEqualTo(24);
        assertThat(b).isEqualTo(25);
        r.updateMsi(a, 0xfee0_1000L, 0x51);
        r.updateMsi(a, 0xfee0_1000L, 0x51); // unchanged: no commit
        r.release(b);
        assertThat(commits).hasSize(4);
        for (List<IrqRoute> t : commits) {
            assertThat(t).containsAll(GsiRouter.defaultIrqchipRoutes());
        }
        assertThat(commits.getLast()).contains(new IrqRoute.Msi(24, 0xfee0_1000L, 0x51))
                .doesNotContain(new IrqRoute.Msi(25, 0xfee0_0000L, 0x42));
        assertThat(r.allocateMsi(0, 0)).as("released GSI reused").isEqualTo(25);
    }

    @Test
    void defaultRoutesMatchKvm() {
        List<IrqRoute> d = GsiRouter.defaultIrqchipRoutes();
        assertThat(d).hasSize(24 + 16);
        assertThat(d).contains(new IrqRoute.Irqchip(0, IrqRoute.CHIP_PIC_MASTER, 0),
                new IrqRoute.Irqchip(0, IrqRoute.CHIP_IOAPIC, 0),
                new IrqRoute.Irqchip(9, IrqRoute.CHIP_PIC_SLAVE, 1),
                new IrqRoute.Irqchip(20, IrqRoute.CHIP_IOAPIC, 20));
    }
}
