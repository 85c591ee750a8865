package io.jkvm.testing;

import io.jkvm.kvm.Kvm;
import io.jkvm.kvm.KvmDevice;
import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Skips a direct-KVM test visibly when the KVM device cannot be used here, saying why. On such a
 * host the whole direct tier runs inside the lab instead ({@code io.jkvm.labtests.KvmTierInLabTest}).
 */
public final class KvmAvailable {
    private KvmAvailable() {}

    public static void assume() {
        Optional<String> why = unavailable();
        Assumptions.assumeTrue(why.isEmpty(), () -> why.get()
                + "; on such a host the direct-KVM tier runs inside the lab (KvmTierInLabTest)");
    }

    /** Why the configured KVM device cannot be opened here, or empty if it can. */
    public static Optional<String> unavailable() {
        Path dev = KvmDevice.path();
        if (!Files.exists(dev)) {
            return Optional.of(dev + " does not exist on this host");
        }
        try (Kvm kvm = Kvm.open(dev.toString())) {
            return Optional.empty();
        } catch (RuntimeException e) {
            return Optional.of("cannot use " + dev + ": " + e.getMessage());
        }
    }
}
