package io.jkvm.api;

import io.jkvm.isolation.LandlockPolicy;
import io.jkvm.isolation.LandlockPolicy.Access;

import java.nio.file.Path;
import java.util.List;

/**
 * Paths a client names after start, checked against the Landlock policy the VMM confined itself
 * to (io.jkvm.isolation): Landlock cannot add a rule after restricting, so a file outside the
 * policy would fail with EACCES half way through the request; here it is a 400 naming the field
 * and saying where the file may be, before anything changes.
 */
final class ConfinedPaths {
    private ConfinedPaths() {}

    /**
     * PATCH /drives: the new image must be where the policy lets the VMM open it, i.e. in the
     * directory of one of the drives it started with (read-write for a writable drive). Checked
     * whenever Landlock is in force, whatever threads it binds, so a swap behaves the same on
     * every kernel that has Landlock.
     */
    static void checkDriveSwap(VmmController vmm, String field, Path image, boolean readOnly) {
        LandlockPolicy policy = vmm.confinedTo();
        Access wanted = readOnly ? Access.READ : Access.READ_WRITE;
        if (policy != null && !policy.allows(image, wanted)) {
            List<Path> dirs = policy.directories(wanted, "drive ");
            throw ApiException.badField(field, field + " " + image + ": outside the files this VMM confined itself to"
                    + " at start (Landlock)" + (dirs.isEmpty() ? "; it cannot swap in a new image"
                    : ": put the image in " + String.join(" or ", dirs.stream().map(Path::toString).toList()))
                    + " (or start the VMM with --landlock off)");
        }
    }

    /**
     * A file the VMM creates after start (a snapshot's state and memory files). Only where
     * Landlock binds every thread (ABI 8 and later): before that it binds the vCPU side only and
     * the API thread that writes the snapshot is free, so nothing would fail.
     */
    static void checkCreated(VmmController vmm, String field, Path file) {
        LandlockPolicy policy = vmm.confinedTo();
        if (policy != null && vmm.confinedAllThreads() && !policy.allows(file, Access.CREATE)) {
            throw ApiException.badField(field, field + " " + file + ": outside the directories this VMM confined itself to"
                    + " at start (Landlock): use its working directory or the API socket's directory"
                    + " (or start the VMM with --landlock off)");
        }
    }
}
