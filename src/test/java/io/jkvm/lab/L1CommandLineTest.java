package io.jkvm.lab;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class L1CommandLineTest {
    @Test
    void l1KernelGetsShadowPagingForItsKvmBeforeTheUsersExtraArguments() throws IOException {
        LabJob job = LabJob.create();
        Path dir = job.dir();
        try {
            List<String> c = L1CommandLine.build(Path.of("/boot/vmlinuz"), Path.of("/tmp/initrd"),
                    LabOptions.defaults(), job, List.of());
            String append = c.get(c.indexOf("-append") + 1);
            assertThat(append).contains(" kvm_amd.npt=0").endsWith(" jkvm.lab=" + dir);
            // JKVM_LAB_APPEND goes after the default, so kvm_amd.npt=1 there wins (insmod takes the last).
            assertThat(append.indexOf("kvm_amd.npt=0")).isLessThan(append.indexOf(" jkvm.lab="));
        } finally {
            Files.deleteIfExists(dir);
        }
    }
}
