package io.jkvm.snapshot;

/** How snapshot files are protected at rest. Both modes authenticate every byte. */
public enum Protection {
    /**
     * HMAC-SHA256 over each file; contents in clear. The memory file is raw guest RAM and is
     * mapped MAP_PRIVATE on restore, so mapping is O(1) in guest size (verification still reads
     * the file once, see {@link Snapshots}).
     */
    HMAC_SHA256(1),
    /**
     * AES-256-GCM encryption plus the HMAC. The memory file is ciphertext, so restore decrypts it
     * into anonymous memory: restore time and resident memory grow with guest size.
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
