package io.jkvm.snapshot;

/** How snapshot files are protected at rest. Both modes authenticate every byte. */
public enum Protection {
    /**
     * HMAC-SHA256 over each file, and over each 1 MiB chunk of the memory file (a table in the
     * state header); contents in clear. The memory file is raw guest RAM, filled into the guest
     * on first touch on restore, each chunk checked as it is read (see {@link Snapshots}).
     */
    HMAC_SHA256(1),
    /**
     * AES-256-GCM encryption plus the HMAC. The memory file is ciphertext in 1 MiB chunks, each
     * with its tag: restore decrypts a chunk into guest RAM on first touch.
     */
    AES_256_GCM(2);

    final int code;

    Protection(int code) {
        this.code = code;
    }

    static Protection ofCode(int code) {
        for (Protection p : values()) {
            if (p.code == code) {
                return p;
            }
        }
        return null;
    }
}
