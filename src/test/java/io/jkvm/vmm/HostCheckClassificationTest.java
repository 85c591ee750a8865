package io.jkvm.vmm;

import io.jkvm.kvm.KvmDevice;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.parallel.ResourceLock;
import org.junit.jupiter.api.parallel.Resources;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * Unit: host-check tells each kind of host apart, with the KVM device pointed at paths that
 * simulate them and a made-up sysfs and cpuinfo. No /dev/kvm is needed; the cases that need
 * an open KVM (PVM, slow, hardware, probe failure) are classified from probe results.
 */
class HostCheckClassificationTest {
    @TempDir Path dir;

    private static final Function<io.jkvm.kvm.Kvm, LongModeProbe.Result> NO_PROBE = kvm -> {
        throw new AssertionError("the probe must not run when KVM cannot be opened");
    };

    private HostCheck.Host host(Path device, String cpuFlags, String... modules) throws IOException {
        Path sys = Files.createDirectories(dir.resolve("sys"));
        for (String m : modules) {
            Files.createDirectories(sys.resolve("module").resolve(m));
        }
        Path cpuinfo = Files.writeString(dir.resolve("cpuinfo"), "processor\t: 0\nflags\t\t: fpu vme " + cpuFlags + " sse2\n");
        return new HostCheck.Host(device, sys, cpuinfo);
    }

    /** The one test that sets the device property, which lab classes running beside it read. */
    @Test
    @ResourceLock(Resources.SYSTEM_PROPERTIES)
    void theDeviceSettingDecidesWhichNodeIsChecked() {
        System.setProperty(KvmDevice.PROPERTY, dir.resolve("kvm").toString());
        try {
            assertThat(HostCheck.Host.current().device()).isEqualTo(dir.resolve("kvm"));
        } finally {
            System.clearProperty(KvmDevice.PROPERTY);
        }
        assertThat(KvmDevice.path().toString()).isEqualTo(System.getenv(KvmDevice.ENV) != null
                ? System.getenv(KvmDevice.ENV) : KvmDevice.DEFAULT);
    }

    @Test
    void modulesLoadedButNoDeviceNodeIsAContainerThatDidNotPassItThrough() throws IOException {
        HostCheck.Report r = HostCheck.run(host(dir.resolve("no-such-kvm"), "", "kvm", "kvm_pvm"), NO_PROBE);
        assertThat(r.kind()).isEqualTo(HostCheck.Kind.NO_DEVICE_NODE);
        assertThat(r.exitCode()).isEqualTo(HostCheck.EXIT_NO_KVM);
        assertThat(r.verdict()).contains("kvm, kvm_pvm").contains("no KVM device at " + dir.resolve("no-such-kvm"))
                .contains("container").contains("lab");
    }

    @Test
    void aRegisteredMiscDeviceWithoutANodeSaysHowToCreateIt() throws IOException {
        HostCheck.Host h = host(dir.resolve("no-such-kvm"), "svm", "kvm", "kvm_amd");
        Files.createDirectories(h.sysfs().resolve("class/misc/kvm"));
        HostCheck.Report r = HostCheck.run(h, NO_PROBE);
        assertThat(r.kind()).isEqualTo(HostCheck.Kind.NO_DEVICE_NODE);
        assertThat(r.verdict()).contains("mknod " + dir.resolve("no-such-kvm") + " c 10 232");
    }

    @Test
    void noModuleOnAVirtualizationCapableCpuSaysWhichModuleToLoad() throws IOException {
        HostCheck.Report intel = HostCheck.run(host(dir.resolve("no-such-kvm"), "vmx"), NO_PROBE);
        assertThat(intel.kind()).isEqualTo(HostCheck.Kind.NO_MODULE);
        assertThat(intel.exitCode()).isEqualTo(HostCheck.EXIT_NO_KVM);
        assertThat(intel.verdict()).contains("modprobe kvm_intel");
        assertThat(HostCheck.run(host(dir.resolve("no-such-kvm"), "svm"), NO_PROBE).verdict()).contains("modprobe kvm_amd");
    }

    @Test
    void noModuleAndNoVirtualizationFlagPointsAtTheFirmwareOrNestedVirtualization() throws IOException {
        HostCheck.Report r = HostCheck.run(host(dir.resolve("no-such-kvm"), ""), NO_PROBE);
        assertThat(r.kind()).isEqualTo(HostCheck.Kind.NO_MODULE);
        assertThat(r.verdict()).contains("no VT-x/AMD-V").contains("firmware");
    }

    @Test
    void aPathThatIsNotACharacterDeviceIsUnusableAndNamesTheSetting() throws IOException {
        Path file = Files.writeString(dir.resolve("plain-file"), "not a device");
        HostCheck.Report r = HostCheck.run(host(file, "vmx", "kvm", "kvm_intel"), NO_PROBE);
        assertThat(r.kind()).isEqualTo(HostCheck.Kind.UNUSABLE);
        assertThat(r.exitCode()).isEqualTo(HostCheck.EXIT_NO_KVM);
        assertThat(r.verdict()).contains(file.toString()).contains(KvmDevice.ENV);
    }

    @Test
    void aCharacterDeviceWithNoDriverBehindItIsTold() throws Exception {
        // /dev/null is a character device, but not KVM: opening works and the first KVM ioctl
        // fails (ENOTTY), which is "not usable"; ENODEV/ENXIO from open is "no driver".
        HostCheck.Report r = HostCheck.run(host(Path.of("/dev/null"), "vmx", "kvm"), NO_PROBE);
        assertThat(r.kind()).isEqualTo(HostCheck.Kind.UNUSABLE);
        assertThat(r.verdict()).contains("/dev/null").contains("KVM_GET_API_VERSION");
        assertThat(HostCheck.openFailed(new ArrayList<>(), Path.of("/dev/kvm"), 19, "open(/dev/kvm): No such device (errno 19)")
                .kind()).isEqualTo(HostCheck.Kind.NO_DRIVER);
        assertThat(HostCheck.openFailed(new ArrayList<>(), Path.of("/dev/kvm"), 6, "open(/dev/kvm): No such device or address (errno 6)")
                .kind()).isEqualTo(HostCheck.Kind.NO_DRIVER);
    }

    @Test
    void permissionDeniedSaysWhichGroupToJoin() {
        for (int errno : new int[] {1, 13}) {
            HostCheck.Report r = HostCheck.openFailed(new ArrayList<>(), Path.of("/dev/kvm"), errno, "open(/dev/kvm): Permission denied");
            assertThat(r.kind()).isEqualTo(HostCheck.Kind.NO_PERMISSION);
            assertThat(r.exitCode()).isEqualTo(HostCheck.EXIT_NO_KVM);
            assertThat(r.verdict()).contains("kvm").contains("group");
        }
    }

    @Test
    void aProbeThatCannotTakeOrReturnFromAnInterruptMeansNoStockGuests() {
        HostCheck.Report r = HostCheck.verdict(new ArrayList<>(),
                new LongModeProbe.Result(true, false, 2500, "took no interrupt"), false);
        assertThat(r.kind()).isEqualTo(HostCheck.Kind.NO_STOCK_GUESTS);
        assertThat(r.exitCode()).isEqualTo(HostCheck.EXIT_NO_STANDARD_GUESTS);
        assertThat(r.verdict()).contains("cannot run").contains("lab");
        assertThat(HostCheck.verdict(new ArrayList<>(), new LongModeProbe.Result(false, false, 0, "no progress"), false)
                .kind()).isEqualTo(HostCheck.Kind.NO_STOCK_GUESTS);
    }

    @Test
    void pvmIsToldByItsBackendNotByItsSpeed() {
        // Even a PVM host whose emulator were fast would be PVM; and a slow non-PVM host is not.
        HostCheck.Report pvm = HostCheck.verdict(new ArrayList<>(), new LongModeProbe.Result(true, true, 3.5, "ran"), true);
        assertThat(pvm.kind()).isEqualTo(HostCheck.Kind.PVM);
        assertThat(pvm.exitCode()).isEqualTo(HostCheck.EXIT_NO_STANDARD_GUESTS);
        assertThat(pvm.verdict()).contains("PVM").contains("3.5 M instructions/s").contains("lab");
        assertThat(HostCheck.verdict(new ArrayList<>(), new LongModeProbe.Result(true, true, 5000, "ran"), true).kind())
                .isEqualTo(HostCheck.Kind.PVM);
    }

    @Test
    void aSlowHostThatRunsTheProbeCorrectlyRunsStockGuestsSlowly() {
        HostCheck.Report r = HostCheck.verdict(new ArrayList<>(), new LongModeProbe.Result(true, true, 3.5, "ran"), false);
        assertThat(r.kind()).isEqualTo(HostCheck.Kind.SLOW);
        assertThat(r.exitCode()).isEqualTo(HostCheck.EXIT_OK);
        assertThat(r.kind().runsStockGuests()).isTrue();
        assertThat(r.verdict()).contains("run here, slowly").contains("3.5");
    }

    @Test
    void hardwareAssistedKvmRunsStockGuests() {
        HostCheck.Report r = HostCheck.verdict(new ArrayList<>(), new LongModeProbe.Result(true, true, 2400, "ran"), false);
        assertThat(r.kind()).isEqualTo(HostCheck.Kind.HARDWARE);
        assertThat(r.exitCode()).isEqualTo(HostCheck.EXIT_OK);
    }

    @Test
    void everyKindHasADocumentedExitCode() {
        List<Integer> documented = List.of(HostCheck.EXIT_OK, HostCheck.EXIT_NO_STANDARD_GUESTS, HostCheck.EXIT_NO_KVM);
        for (HostCheck.Kind k : HostCheck.Kind.values()) {
            if (!documented.contains(k.exitCode())) {
                fail(k + " exits with undocumented " + k.exitCode());
            }
        }
    }
}
