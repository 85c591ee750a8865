package io.jkvm.api;

/**
 * jkvm's own version and the Firecracker API version its VMM answers as. Clients compare the
 * latter as a semantic version: Kata reads the second word of {@code firecracker --version}'s first
 * line (minus a leading "v"), the Go SDK and others read {@code GET /version}'s
 * {@code firecracker_version}. It names the version of Firecracker's OpenAPI document jkvm's
 * endpoints are checked against, not a claim to every endpoint of it (the API refuses what jkvm
 * lacks with 400, naming the field or path).
 */
public final class Versions {
    private Versions() {}

    /** This jkvm. */
    public static final String JKVM = "0.2.0";

    /** Firecracker's swagger {@code info.version} that jkvm's API follows. */
    public static final String FIRECRACKER_API = "1.17.0";
}
