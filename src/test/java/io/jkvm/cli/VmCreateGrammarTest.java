package io.jkvm.cli;

import io.jkvm.api.FullVmConfiguration;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Unit: `jkvm vm create` names disks and NICs with `jkvm run`'s grammar, and refuses what run refuses. */
class VmCreateGrammarTest {
    private static FullVmConfiguration create(String... args) {
        VmCommand.Create c = new VmCommand.Create();
        new CommandLine(c).parseArgs(args);
        return c.fromFlags();
    }

    @Test
    void disksAndNicsUseRunsGrammar() {
        FullVmConfiguration c = create("web", "--kernel", "/k", "--disk", "path=/img/root.ext4",
                "--disk", "path=/img/data.img,readonly=on,id=data", "--net", "tap=tap0,mac=06:00:ac:10:00:02",
                "--net", "tap=tap1");
        assertThat(c.drives()).hasSize(2);
        assertThat(c.drives().get(0).driveId()).isEqualTo("rootfs");
        assertThat(c.drives().get(0).root()).isTrue();
        assertThat(c.drives().get(1).driveId()).isEqualTo("data");
        assertThat(c.drives().get(1).readOnly()).isTrue();
        assertThat(c.drives().get(1).pathOnHost()).isEqualTo("/img/data.img");
        assertThat(c.networkInterfaces().get(0).hostDevName()).isEqualTo("tap0");
        assertThat(c.networkInterfaces().get(0).guestMac()).isEqualTo("06:00:ac:10:00:02");
        assertThat(c.networkInterfaces().get(1).guestMac()).as("the VMM picks one").isNull();
    }

    @Test
    void whatRunRefusesCreateRefusesTooInOneLine() {
        assertThatThrownBy(() -> create("web", "--kernel", "/k", "--disk", "/img/root.ext4"))
                .isInstanceOf(UserError.class).hasMessageContaining("--disk");
        assertThatThrownBy(() -> create("web", "--kernel", "/k", "--net", "tap0"))
                .isInstanceOf(UserError.class).hasMessageContaining("--net");
        assertThatThrownBy(() -> create("web", "--kernel", "/k", "--net", "tap=tap0,mac=zz"))
                .isInstanceOf(UserError.class);
    }
}
