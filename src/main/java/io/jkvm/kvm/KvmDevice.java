package io.jkvm.kvm;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Which KVM device node jkvm opens: {@code /dev/kvm} unless the system property
 * {@value #PROPERTY} (set by the CLI's {@code --kvm-device}) or the environment variable
 * {@value #ENV} names another path. A setting rather than a constant so that a host without
 * KVM can be simulated on any machine (point it at a missing path), and so that a device passed
 * into a container under another name can be used.
 */
public final class KvmDevice {
    /** The usual device node (misc device 10:232). */
    public static final String DEFAULT = "/dev/kvm";
    /** Environment variable that overrides the device path; child VMMs inherit it. */
    public static final String ENV = "JKVM_KVM_DEVICE";
    /** System property that overrides the device path (wins over {@link #ENV}). */
    public static final String PROPERTY = "jkvm.kvm.device";

    private KvmDevice() {}

    /** The configured device path. */
    public static Path path() {
        String p = System.getProperty(PROPERTY);
        if (p == null || p.isBlank()) {
            p = System.getenv(ENV);
        }
        return Path.of(p == null || p.isBlank() ? DEFAULT : p);
    }

    /** True when the setting differs from the default, so child processes must be told. */
    public static boolean overridden() {
        return !path().toString().equals(DEFAULT);
    }

    /** Why the configured device cannot be opened as KVM here (one line), or empty if it can. */
    public static Optional<String> whyUnusable() {
        Path dev = path();
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
