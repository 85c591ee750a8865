package io.jkvm.testing;

import io.jkvm.kvm.KvmDevice;
import org.junit.jupiter.api.Assumptions;

import java.util.Optional;

/**
 * Skips a direct-KVM test visibly when the KVM device cannot be used here, saying why. On such a
 * host the whole direct tier runs inside the lab instead ({@code io.jkvm.labtests.KvmTierInLabTest}).
 */
public final class KvmAvailable {
    private KvmAvailable() {}

    public static void assume() {
        Optional<String> why = unavailable();
        TierSummary.say(why.isEmpty() ? "direct-KVM: runs on this host (" + KvmDevice.path() + ")"
                : "direct-KVM: not on this host (" + why.get() + "): it runs inside the lab instead (KvmTierInLabTest)");
        Assumptions.assumeTrue(why.isEmpty(), () -> why.get()
                + "; on such a host the direct-KVM tier runs inside the lab (KvmTierInLabTest)");
    }

    /** Why the configured KVM device cannot be opened here, or empty if it can. */
    public static Optional<String> unavailable() {
        return KvmDevice.whyUnusable();
    }
}
