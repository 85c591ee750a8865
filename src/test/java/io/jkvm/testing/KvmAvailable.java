package io.jkvm.testing;

import io.jkvm.kvm.Kvm;
import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;

/** Skips a direct-KVM test visibly when /dev/kvm cannot be used here, saying why. */
public final class KvmAvailable {
    private KvmAvailable() {}

    public static void assume() {
        Path dev = Path.of(Kvm.DEVICE);
        Assumptions.assumeTrue(Files.exists(dev), "/dev/kvm does not exist on this host");
        Assumptions.assumeTrue(Files.isReadable(dev) && Files.isWritable(dev),
                "/dev/kvm is not accessible to this user (add it to the kvm group or run as root)");
    }
}
