package io.jkvm.snapshot;

/**
 * A saved device state that is well-formed but does not fit the device it is restored into: a
 * disk of another size, a queue larger than the device's, a feature it does not offer, a state
 * of another kind. The message names the device id and the field.
 */
public final class DeviceMismatchException extends SnapshotException {
    private final String device;
    private final String detail;

    public DeviceMismatchException(String device, String problem) {
        this(device, problem, null);
    }

    public DeviceMismatchException(String device, String problem, Throwable cause) {
        super("device " + device + ": " + problem, cause);
        this.device = device;
        this.detail = problem;
    }

    /** The problem without the device. */
    public String detail() {
        return detail;
    }

    /** The id (or name) of the device that refused the state. */
    public String device() {
        return device;
    }
}
