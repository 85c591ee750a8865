package io.jkvm.snapshot;

import io.jkvm.kvm.LibCrypto;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.Size;

import java.nio.ByteBuffer;
import java.util.List;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

import static org.assertj.core.api.Assertions.assertThat;

/** libcrypto's HMAC (when the system has it) and javax.crypto's agree, however the data is split. */
class BulkMacTest {
    @Property(tries = 50)
    void bulkMacEqualsJavaxCryptoHmac(@ForAll @Size(min = 32, max = 64) byte[] key,
            @ForAll @Size(max = 6) List<@Size(max = 5000) byte[]> parts) throws Exception {
        Mac jca = Mac.getInstance("HmacSHA256");
        jca.init(new SecretKeySpec(key, "HmacSHA256"));
        BulkMac bulk = BulkMac.create(key, LibCrypto.available() ? null : newMac(key));
        for (int i = 0; i < parts.size(); i++) {
            byte[] p = parts.get(i);
            jca.update(p);
            ByteBuffer b = i % 2 == 0 ? ByteBuffer.allocateDirect(p.length).put(p).flip() : ByteBuffer.wrap(p);
            bulk.update(b);
            assertThat(b.hasRemaining()).isFalse();
        }
        assertThat(bulk.doFinal()).isEqualTo(jca.doFinal());
    }

    private static Mac newMac(byte[] key) throws Exception {
        Mac m = Mac.getInstance("HmacSHA256");
        m.init(new SecretKeySpec(key, "HmacSHA256"));
        return m;
    }
}
