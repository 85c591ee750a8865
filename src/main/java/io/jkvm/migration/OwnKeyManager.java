package io.jkvm.migration;

import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;
import java.net.Socket;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;

/**
 * The one key and certificate chain this end of a migration authenticates with. Handed to the
 * SSLContext directly instead of through a PKCS#12 KeyStore and KeyManagerFactory: the KeyStore
 * encrypts a key as it is stored and the factory decrypts it again, each a password-based key
 * derivation of thousands of HMAC rounds (tens of milliseconds on a fast host, seconds under an
 * emulated CPU) that every migration and every listening destination paid for a key that never
 * leaves memory.
 */
final class OwnKeyManager extends X509ExtendedKeyManager {
    private static final String ALIAS = "self";
    private final PrivateKey key;
    private final X509Certificate[] chain;

    OwnKeyManager(PrivateKey key, List<X509Certificate> chain) {
        this.key = key;
        this.chain = chain.toArray(X509Certificate[]::new);
    }

    /**
     * The alias when JSSE asks for a key of our key's type ("EC", "RSA", "RSASSA-PSS", "EdDSA":
     * the key algorithm names of the JSSE reference guide); null otherwise, so it tries the next
     * type the peer accepts. Issuers are not filtered: a peer that does not trust our CA refuses
     * the handshake with its own clear alert.
     */
    private String aliasFor(String keyType) {
        return keyType != null && keyType.equalsIgnoreCase(key.getAlgorithm()) ? ALIAS : null;
    }

    private String aliasFor(String[] keyTypes) {
        if (keyTypes != null) {
            for (String t : keyTypes) {
                if (aliasFor(t) != null) {
                    return ALIAS;
                }
            }
        }
        return null;
    }

    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
        return aliasFor(keyType) == null ? null : new String[] {ALIAS};
    }

    @Override
    public String chooseClientAlias(String[] keyTypes, Principal[] issuers, Socket socket) {
        return aliasFor(keyTypes);
    }

    @Override
    public String chooseEngineClientAlias(String[] keyTypes, Principal[] issuers, SSLEngine engine) {
        return aliasFor(keyTypes);
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
        return getClientAliases(keyType, issuers);
    }

    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
        return aliasFor(keyType);
    }

    @Override
    public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
        return aliasFor(keyType);
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
        return ALIAS.equals(alias) ? chain.clone() : null;
    }

    @Override
    public PrivateKey getPrivateKey(String alias) {
        return ALIAS.equals(alias) ? key : null;
    }
}
