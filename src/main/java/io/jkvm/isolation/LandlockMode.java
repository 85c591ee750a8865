package io.jkvm.isolation;

/**
 * {@code --landlock}: never; where the kernel offers Landlock (logging that it does not
 * otherwise); or always, failing before boot where the kernel lacks it.
 */
public enum LandlockMode {
    OFF, AUTO, ON;

    /** The flag's value, or an {@link IllegalArgumentException} whose message names the flag. */
    public static LandlockMode parse(String flag, String value) {
        return switch (value) {
            case "off" -> OFF;
            case "auto" -> AUTO;
            case "on" -> ON;
            default -> throw new IllegalArgumentException(flag + " " + value + ": must be off, auto or on");
        };
    }

    @Override
    public String toString() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
