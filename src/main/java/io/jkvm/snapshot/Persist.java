package io.jkvm.snapshot;

/**
 * The persistence contract of a device (the shape of Firecracker's {@code Persist} trait,
 * {@code src/vmm/src/snapshot/persist.rs}): the device's guest-visible state is an immutable
 * record {@code S} declared in the device's own package, produced by {@link #save} and given
 * back to a static {@code restore(host resources..., S state)} on the device class, which builds
 * a new device from it (or refuses with {@link DeviceMismatchException}).
 *
 * <p>A device that persists provides:
 * <ul>
 *   <li>{@code record State(...)} validating its own ranges in the constructor;</li>
 *   <li>{@code State.CODEC}, a {@link RecordCodec} with a unique kind that writes the fields
 *       and reads them back bounding every one;</li>
 *   <li>{@code S save()} here, and {@code static Device restore(resources..., State s)};</li>
 *   <li>an entry in the VMM's codec list ({@code io.jkvm.vmm.DeviceStateFormat}); changing any
 *       codec's encoding means bumping {@link DeviceCodecs#FORMAT_VERSION}, the one version of
 *       the device section.</li>
 * </ul>
 * Saved states are stored under the device's id (drive_id, a fixed id such as "serial0"), never
 * by position.
 *
 * @param <S> the device's state record
 */
public interface Persist<S extends Record> {
    /** The device's state now. Call with the device quiescent (vCPUs paused, device I/O stopped). */
    S save();
}
