package io.jkvm.testing;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.platform.engine.TestDescriptor;
import org.junit.platform.engine.UniqueId;
import org.junit.platform.engine.support.descriptor.AbstractTestDescriptor;
import org.junit.platform.engine.support.descriptor.MethodSource;
import org.junit.platform.launcher.PostDiscoveryFilter;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** A second lab machine runs only the tier's tests the first did not finish. */
class TierLauncherSkipTest {
    @Test
    void testsNamedInTheSkipFileAreLeftOutAndTheOthersRun(@TempDir Path dir) throws IOException {
        Path skip = Files.write(dir.resolve("skip.txt"), List.of("MachineDirectTest.tripleFaultIsReportedWithRegisters"));
        PostDiscoveryFilter filter = TierLauncher.alreadyRun(skip.toString());
        assertThat(filter.apply(method("io.jkvm.vmm.MachineDirectTest", "tripleFaultIsReportedWithRegisters")).excluded())
                .isTrue();
        assertThat(filter.apply(method("io.jkvm.vmm.MachineDirectTest", "inInstructionsReceiveDeviceData")).included())
                .isTrue();
        assertThat(filter.apply(method("io.jkvm.vmm.OtherTest", "tripleFaultIsReportedWithRegisters")).included())
                .isTrue();
    }

    @Test
    void withoutASkipFileEverythingRuns() throws IOException {
        assertThat(TierLauncher.alreadyRun(null).apply(method("io.jkvm.vmm.MachineDirectTest", "x")).included()).isTrue();
    }

    private static TestDescriptor method(String cls, String name) {
        return new AbstractTestDescriptor(UniqueId.forEngine("t").append("method", name), name,
                MethodSource.from(cls, name)) {
            @Override
            public Type getType() {
                return Type.TEST;
            }
        };
    }
}
