package io.jkvm.daemon.web;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The files the pages load: this package's own (login, list and VM pages, their CSS and JS, from
 * the jar) and the third-party assets {@code bin/web-assets} fetched and checked into the build
 * directory (xterm.js, noVNC). Only known extensions, each with its content type; no directory
 * listings, no dot-files, no path leaving the assets directory (symbolic links included).
 */
final class StaticFiles {
    /** Largest asset served: noVNC's and xterm's biggest files are a few hundred KiB. */
    static final long MAX_BYTES = 8L << 20;
    private static final Pattern SAFE = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*");
    static final Map<String, String> TYPES = Map.of(
            "html", "text/html; charset=utf-8",
            "js", "text/javascript; charset=utf-8",
            "mjs", "text/javascript; charset=utf-8",
            "css", "text/css; charset=utf-8",
            "svg", "image/svg+xml",
            "png", "image/png",
            "json", "application/json");
    /** This package's own files, by the name pages use. */
    private static final java.util.Set<String> OWN = java.util.Set.of(
            "login.html", "index.html", "vm.html", "app.css", "login.js", "index.js", "vm.js", "common.js",
            "style-nonce.js", "favicon.svg");

    record File(String contentType, byte[] bytes) {}

    private final Path assets;
    /**
     * Files already read, shared by every response (the pages and scripts never change while the
     * daemon runs): a client reading slowly holds a reference, not a copy. Bounded by
     * {@link #CACHE_BYTES}; past that, files are read per request.
     */
    private final Map<String, File> cache = new java.util.concurrent.ConcurrentHashMap<>();
    private final java.util.concurrent.atomic.AtomicLong cached = new java.util.concurrent.atomic.AtomicLong();
    static final long CACHE_BYTES = 64L << 20;
    private static final Map<String, Optional<File>> OWN_FILES = new java.util.concurrent.ConcurrentHashMap<>();

    StaticFiles(Path assets) {
        this.assets = assets == null ? null : assets.toAbsolutePath().normalize();
    }

    Path assetsDir() {
        return assets;
    }

    /** Whether the fetched assets are there (checked at start, to warn once). */
    boolean assetsPresent() {
        return assets != null && Files.isRegularFile(assets.resolve("xterm/lib/xterm.mjs"))
                && Files.isRegularFile(assets.resolve("novnc/core/rfb.js"));
    }

    static String type(String name) {
        int dot = name.lastIndexOf('.');
        return dot < 0 ? null : TYPES.get(name.substring(dot + 1));
    }

    /** One of this package's own files (read once). */
    static Optional<File> own(String name) {
        if (!OWN.contains(name)) {
            return Optional.empty();
        }
        return OWN_FILES.computeIfAbsent(name, StaticFiles::readOwn);
    }

    private static Optional<File> readOwn(String name) {
        try (InputStream in = StaticFiles.class.getResourceAsStream(name)) {
            if (in == null) {
                return Optional.empty();
            }
            return Optional.of(new File(type(name), in.readAllBytes()));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** A fetched asset, {@code rel} relative to the assets directory. */
    Optional<File> asset(String rel) throws IOException {
        if (assets == null || rel.length() > 200 || !SAFE.matcher(rel).matches() || rel.contains("..")) {
            return Optional.empty();
        }
        String type = type(rel);
        if (type == null || type.startsWith("text/html")) {
            return Optional.empty();
        }
        File known = cache.get(rel);
        if (known != null) {
            return Optional.of(known);
        }
        Path p = assets.resolve(rel).normalize();
        if (!p.startsWith(assets) || !Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
            return Optional.empty();
        }
        if (!p.toRealPath().startsWith(assets.toRealPath()) || Files.size(p) > MAX_BYTES) {
            return Optional.empty();
        }
        File f = new File(type, Files.readAllBytes(p));
        if (cached.addAndGet(f.bytes().length) <= CACHE_BYTES) {
            if (cache.putIfAbsent(rel, f) != null) {
                cached.addAndGet(-f.bytes().length);
            }
        } else {
            cached.addAndGet(-f.bytes().length);
        }
        return Optional.of(f);
    }
}
