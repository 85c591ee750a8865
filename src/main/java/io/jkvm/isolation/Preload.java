package io.jkvm.isolation;

/**
 * Loads, before Landlock applies, what the VMM would otherwise load lazily from outside the
 * policy: the system's libcrypto (snapshot HMACs), found through /etc/ld.so.cache in the
 * system library directories and configured from /usr/lib/ssl/openssl.cnf (seen with strace on
 * the first PUT /snapshot/create). Once loaded, a library needs no file again. Loading it
 * after the restriction would not fail the VMM (jkvm falls back to its Java HMAC) but would
 * quietly make every snapshot slower; loading it here costs a few milliseconds.
 */
final class Preload {
    private Preload() {}

    static void run() {
        io.jkvm.kvm.LibCrypto.available();
    }
}
