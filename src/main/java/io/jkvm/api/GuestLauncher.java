package io.jkvm.api;

/**
 * Boots a validated {@link GuestSpec}: the seam between the API's state machine and the VMM, so
 * the API can be exercised (property tests) without KVM. Throws {@link ApiException} when the
 * guest cannot boot (a kernel that does not load, KVM refusing the machine).
 */
public interface GuestLauncher {
    RunningGuest launch(GuestSpec spec);
}
