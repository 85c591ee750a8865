package io.jkvm.storage;

import io.jkvm.config.ConfigException;
import io.jkvm.net.MacAddress;
import io.jkvm.net.NetConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class DiskConfigTest {
    @Test
    void parsesDisks() {
        assertThat(DiskConfig.parse("path=a.img").format()).as("raw unless told").isEqualTo(DiskFormat.RAW);
        assertThat(DiskConfig.parse("path=a.qcow2,format=qcow2").format()).isEqualTo(DiskFormat.QCOW2);
        assertThat(DiskConfig.parse("path=a.img,format=raw").format()).isEqualTo(DiskFormat.RAW);
        assertThat(DiskConfig.parse("path=/tmp/a.img")).isEqualTo(new DiskConfig(Path.of("/tmp/a.img"), false, null));
        assertThat(DiskConfig.parse("path=a.img,readonly=on,id=root"))
                .isEqualTo(new DiskConfig(Path.of("a.img"), true, "root"));
    }

    @Test
    void diskErrorsNameTheField() {
        assertThatThrownBy(() -> DiskConfig.parse("readonly=on")).isInstanceOf(ConfigException.class).hasMessageContaining("'path'");
        assertThatThrownBy(() -> DiskConfig.parse("path=a,readonly=maybe")).hasMessageContaining("'readonly'");
        assertThatThrownBy(() -> DiskConfig.parse("path=a,id=" + "x".repeat(21))).hasMessageContaining("'id'");
        assertThatThrownBy(() -> DiskConfig.parse("path=a,id=has space")).hasMessageContaining("'id'");
        assertThatThrownBy(() -> DiskConfig.parse("path=a,size=3")).hasMessageContaining("unknown field 'size'");
        assertThatThrownBy(() -> DiskConfig.parse("path=a,path=b")).hasMessageContaining("twice");
        assertThatThrownBy(() -> DiskConfig.parse("path=a,format=vmdk")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("'format'").hasMessageContaining("vmdk");
        assertThatThrownBy(() -> DiskConfig.parse("path=")).hasMessageContaining("empty value");
        assertThatThrownBy(() -> DiskConfig.parse("")).hasMessageContaining("--disk");
    }

    @Test
    void parsesNets() {
        NetConfig n = NetConfig.parse("tap=tap0,mac=52:54:00:ab:cd:ef");
        assertThat(n.tap()).isEqualTo("tap0");
        assertThat(n.mac().toString()).isEqualTo("52:54:00:ab:cd:ef");
        MacAddress generated = NetConfig.parse("tap=tap1").mac();
        assertThat(generated.bytes()[0] & 0x03).as("locally administered unicast").isEqualTo(0x02);
    }

    @Test
    void netErrorsNameTheField() {
        assertThatThrownBy(() -> NetConfig.parse("mac=52:54:00:00:00:01")).hasMessageContaining("'tap'");
        assertThatThrownBy(() -> NetConfig.parse("tap=tap0,mac=01:00:5e:00:00:01")).hasMessageContaining("multicast");
        assertThatThrownBy(() -> NetConfig.parse("tap=tap0,mac=52:54:00")).hasMessageContaining("'mac'");
        assertThatThrownBy(() -> NetConfig.parse("tap=tap0,mac=52:54:00:zz:00:01")).hasMessageContaining("'mac'");
        assertThatThrownBy(() -> NetConfig.parse("tap=" + "t".repeat(16))).hasMessageContaining("'tap'");
        assertThatThrownBy(() -> NetConfig.parse("tap=a/b")).hasMessageContaining("'tap'");
    }
}
