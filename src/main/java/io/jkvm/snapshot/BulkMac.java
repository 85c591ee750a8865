package io.jkvm.snapshot;

import io.jkvm.kvm.LibCrypto;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import javax.crypto.Mac;

/**
 * HMAC-SHA256 over bulk data (guest RAM, memory files): libcrypto's when the system has it (fast
 * from a cold start, see {@link LibCrypto}), else javax.crypto's. Both compute the same MAC.
 */
interface BulkMac {
    /** Adds the buffer's remaining bytes and consumes them. */
    void update(ByteBuffer data);

    byte[] doFinal();

    static BulkMac create(byte[] key, Mac fallback) {
        if (LibCrypto.available()) {
            LibCrypto.HmacSha256 h = LibCrypto.HmacSha256.start(key);
            return new BulkMac() {
                @Override
                public void update(ByteBuffer data) {
                    h.update(MemorySegment.ofBuffer(data));
                    data.position(data.limit());
                }

                @Override
                public byte[] doFinal() {
                    return h.doFinal();
                }
            };
        }
        return new BulkMac() {
            @Override
            public void update(ByteBuffer data) {
                fallback.update(data);
            }

            @Override
            public byte[] doFinal() {
                return fallback.doFinal();
            }
        };
    }
}
