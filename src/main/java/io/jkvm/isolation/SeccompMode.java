package io.jkvm.isolation;

/** {@code --seccomp}: no filter, a filter that only logs denied calls, or one that kills the VMM. */
public enum SeccompMode {
    OFF, LOG, ON;

    /** The flag's value, or an {@link IllegalArgumentException} whose message names the flag. */
    public static SeccompMode parse(String flag, String value) {
        return switch (value) {
            case "off" -> OFF;
            case "log" -> LOG;
            case "on" -> ON;
            default -> throw new IllegalArgumentException(flag + " " + value + ": must be off, log or on");
        };
    }

    @Override
    public String toString() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
