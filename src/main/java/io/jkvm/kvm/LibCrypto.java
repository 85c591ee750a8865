package io.jkvm.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * HMAC-SHA256 from the system's OpenSSL libcrypto (libcrypto.so.3), for authenticating snapshot
 * memory files and migration streams of guest RAM. Why not javax.crypto: the JDK's SHA-256 runs
 * with its SHA-NI intrinsic only once C2 has compiled it, and jkvm's JVM is started with C1 only
 * for start-up speed, so a cold restore verified 128 MiB at ~65 MiB/s; libcrypto does ~2 GB/s
 * from the first byte. Only the one-call-per-buffer HMAC_CTX API is used (deprecated in OpenSSL
 * 3 but exported and stable). When the library is absent callers fall back to javax.crypto.
 */
public final class LibCrypto {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final Optional<Handles> HANDLES = load();

    private record Handles(MethodHandle ctxNew, MethodHandle ctxFree, MethodHandle init, MethodHandle update,
            MethodHandle fin, MemorySegment sha256) {}

    private LibCrypto() {}

    private static Optional<Handles> load() {
        if ("0".equals(System.getenv("JKVM_LIBCRYPTO"))) {
            return Optional.empty();
        }
        try {
            SymbolLookup lib = SymbolLookup.libraryLookup("libcrypto.so.3", Arena.global());
            MethodHandle evpSha256 = LINKER.downcallHandle(lib.find("EVP_sha256").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.ADDRESS));
            MemorySegment md = (MemorySegment) evpSha256.invokeExact();
            return Optional.of(new Handles(
                    LINKER.downcallHandle(lib.find("HMAC_CTX_new").orElseThrow(), FunctionDescriptor.of(ValueLayout.ADDRESS)),
                    LINKER.downcallHandle(lib.find("HMAC_CTX_free").orElseThrow(), FunctionDescriptor.ofVoid(ValueLayout.ADDRESS)),
                    LINKER.downcallHandle(lib.find("HMAC_Init_ex").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT,
                            ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS)),
                    LINKER.downcallHandle(lib.find("HMAC_Update").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT,
                            ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG), Linker.Option.critical(true)),
                    LINKER.downcallHandle(lib.find("HMAC_Final").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT,
                            ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS)),
                    md));
        } catch (Throwable e) {
            return Optional.empty();
        }
    }

    public static boolean available() {
        return HANDLES.isPresent();
    }

    /** A running HMAC-SHA256; not thread-safe; {@link #doFinal()} frees it. */
    public static final class HmacSha256 {
        private final Handles h;
        private MemorySegment ctx;

        private HmacSha256(Handles h, MemorySegment ctx) {
            this.h = h;
            this.ctx = ctx;
        }

        /** Starts an HMAC with {@code key}; throws if libcrypto is not {@link #available()}. */
        public static HmacSha256 start(byte[] key) {
            Handles h = HANDLES.orElseThrow(() -> new IllegalStateException("libcrypto.so.3 not available"));
            try {
                MemorySegment ctx = (MemorySegment) h.ctxNew().invokeExact();
                if (ctx.equals(MemorySegment.NULL)) {
                    throw new IllegalStateException("HMAC_CTX_new failed");
                }
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment k = a.allocate(Math.max(1, key.length));
                    k.copyFrom(MemorySegment.ofArray(key));
                    int ok = (int) h.init().invokeExact(ctx, k, key.length, h.sha256(), MemorySegment.NULL);
                    if (ok != 1) {
                        h.ctxFree().invokeExact(ctx);
                        throw new IllegalStateException("HMAC_Init_ex failed");
                    }
                }
                return new HmacSha256(h, ctx);
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        /** Adds {@code data} (native or heap memory). */
        public void update(MemorySegment data) {
            try {
                int ok = (int) h.update().invokeExact(ctx, data, data.byteSize());
                if (ok != 1) {
                    throw new IllegalStateException("HMAC_Update failed");
                }
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }

        /** The 32-byte MAC; the context is freed. */
        public byte[] doFinal() {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment out = a.allocate(64);
                MemorySegment len = a.allocate(ValueLayout.JAVA_INT);
                int ok = (int) h.fin().invokeExact(ctx, out, len);
                h.ctxFree().invokeExact(ctx);
                ctx = MemorySegment.NULL;
                if (ok != 1 || len.get(ValueLayout.JAVA_INT, 0) != 32) {
                    throw new IllegalStateException("HMAC_Final failed");
                }
                return out.asSlice(0, 32).toArray(ValueLayout.JAVA_BYTE);
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new IllegalStateException(t);
            }
        }
    }
}
