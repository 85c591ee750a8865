package io.jkvm.daemon.web;

/**
 * What a web console login may see: every VM (the daemon's admin token) or one VM (a token made
 * for it by {@code jkvm vm console-url NAME}).
 *
 * @param vm the one VM this login is for, or null for all of them
 */
public record Scope(String vm) {
    public static final Scope ADMIN = new Scope(null);

    public static Scope of(String vm) {
        return new Scope(java.util.Objects.requireNonNull(vm, "vm"));
    }

    public boolean admin() {
        return vm == null;
    }

    /** Whether this login may open VM {@code name}'s page and sockets and act on it. */
    public boolean covers(String name) {
        return vm == null || vm.equals(name);
    }
}
