package io.jkvm.mmds;

/**
 * How a guest reads the store. V1: plain GETs (a session token may be fetched and sent, but is not
 * required). V2: a session token from {@code PUT /latest/api/token} is required on every GET.
 */
public enum MmdsVersion {
    V1, V2
}
