package io.jkvm.display.vnc;

import io.jkvm.api.SocketFileSystems;
import io.jkvm.display.DamageListener;
import io.jkvm.display.DisplayMode;
import io.jkvm.display.Framebuffer;
import io.jkvm.display.InputSink;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An RFB 3.8 (RFC 6143) server showing one {@link Framebuffer} and sending keyboard and pointer
 * input to one {@link InputSink}; 3.7 and 3.3 clients are served too.
 *
 * <p>Two ways in: a Unix socket ({@link #unix}, created 0600, security type None: the file's
 * permissions are the access control), or TCP ({@link #tcp}, only with a password: security type
 * VNC Authentication; an address that keeps failing it is shut out for a growing while, see
 * {@link AuthThrottle}). Encodings: Raw and Hextile (solid, two-colour and raw tiles), plus the
 * DesktopSize pseudo-encoding; a client without DesktopSize is disconnected when the guest
 * changes the size of its mode (see {@link ClientSession}). Clients may ask for any true-colour
 * pixel format; colour-map formats close the connection.
 *
 * <p>Use: {@code VncServer.unix(path, framebuffer, input)} or
 * {@code VncServer.tcp(host, port, password, framebuffer, input)}, then {@link #close()} when the
 * VM ends (it disconnects every client and removes the socket file).
 *
 * <p>Threads: one accepting; per client one reading and one sending, at most
 * {@link Options#maxClients()} clients (further ones are told why and closed). The framebuffer is
 * subscribed to only while a client is connected; its damage callbacks only mark the clients'
 * dirty tiles. Nothing here polls.
 */
public final class VncServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(VncServer.class);
    /** Connections over the cap that may be in their short refusal handshake at once; more are just closed. */
    private static final int MAX_REFUSING = 2;
    /** Connections one peer may have in their handshake at once (a viewer needs one; a reconnect, two). */
    static final int MAX_HANDSHAKING_PER_PEER = 2;
    private static final java.time.Duration ACCEPT_RETRY = java.time.Duration.ofMillis(100);
    private static final long ACCEPT_WARNING_EVERY_NANOS = 10_000_000_000L;

    /**
     * Tunables. {@code writeStallTimeout}: a client that accepts no data for this long is
     * disconnected. {@code maxCutText}: longest ClientCutText read (and dropped) before the
     * client is disconnected.
     */
    public record Options(String desktopName, int maxClients, Duration handshakeTimeout,
                          Duration writeStallTimeout, int maxCutText) {
        public static final Options DEFAULTS =
                new Options("jkvm", 8, Duration.ofSeconds(10), Duration.ofSeconds(30), 1 << 20);

        public Options {
            Objects.requireNonNull(desktopName, "desktopName");
            if (maxClients < 1 || maxClients > 64) {
                throw new IllegalArgumentException("maxClients must be 1..64, not " + maxClients);
            }
            if (handshakeTimeout.isNegative() || handshakeTimeout.isZero()
                    || writeStallTimeout.isNegative() || writeStallTimeout.isZero()) {
                throw new IllegalArgumentException("VNC timeouts must be positive");
            }
            if (maxCutText < 0) {
                throw new IllegalArgumentException("maxCutText must not be negative");
            }
        }
    }

    private final ServerSocketChannel server;
    private final Path socketFile;
    private final byte[] authKey;
    private final Framebuffer fb;
    private final InputSink input;
    private final Options options;
    private final SocketAddress address;

    private final AuthThrottle throttle = new AuthThrottle();
    private final Set<ClientSession> live = ConcurrentHashMap.newKeySet();
    private final Set<ClientSession> active = ConcurrentHashMap.newKeySet();
    private final Set<ClientSession> refusing = ConcurrentHashMap.newKeySet();
    private final AtomicInteger counter = new AtomicInteger();
    private Framebuffer.Subscription subscription; // guarded by this
    private volatile boolean closed;

    private VncServer(ServerSocketChannel server, Path socketFile, byte[] authKey, Framebuffer fb, InputSink input,
                      Options options) throws IOException {
        this.server = server;
        this.socketFile = socketFile;
        this.authKey = authKey;
        this.fb = Objects.requireNonNull(fb, "framebuffer");
        this.input = Objects.requireNonNull(input, "input");
        this.options = options;
        this.address = socketFile != null ? UnixDomainSocketAddress.of(socketFile) : server.getLocalAddress();
        Thread.ofPlatform().name("vnc-accept").daemon(true).start(this::acceptLoop);
    }

    /** Serves on a new Unix socket at {@code socket} (0600, no password); replaces a stale file. */
    public static VncServer unix(Path socket, Framebuffer fb, InputSink input) throws IOException {
        return unix(socket, fb, input, Options.DEFAULTS);
    }

    public static VncServer unix(Path socket, Framebuffer fb, InputSink input, Options options) throws IOException {
        prepare(socket);
        // Bound under a private name, made owner-only, then renamed into place: nobody else can
        // connect between bind (which creates the file with the umask) and chmod.
        Path bound = socket.resolveSibling("." + socket.getFileName() + "." + ProcessHandle.current().pid() + ".bind");
        Files.deleteIfExists(bound);
        ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            ch.bind(UnixDomainSocketAddress.of(bound));
            Files.setPosixFilePermissions(bound, PosixFilePermissions.fromString("rw-------"));
            Files.move(bound, socket, StandardCopyOption.ATOMIC_MOVE);
            return new VncServer(ch, socket, null, fb, input, options);
        } catch (IOException | RuntimeException e) {
            ch.close();
            Files.deleteIfExists(bound);
            throw e;
        }
    }

    /**
     * Serves on TCP {@code host}:{@code port} (port 0: any free one, see {@link #address()}),
     * with VNC Authentication. RFB passwords are at most 8 bytes: longer ones are cut.
     *
     * @throws IllegalArgumentException if {@code password} is null or empty: VNC on a network
     *     port without authentication would give anyone who reaches it the guest's console
     */
    public static VncServer tcp(String host, int port, String password, Framebuffer fb, InputSink input)
            throws IOException {
        return tcp(host, port, password, fb, input, Options.DEFAULTS);
    }

    public static VncServer tcp(String host, int port, String password, Framebuffer fb, InputSink input,
                                Options options) throws IOException {
        if (password == null || password.isEmpty()) {
            throw new IllegalArgumentException("VNC over TCP needs a password (VNC Authentication);"
                    + " without one, use the Unix socket");
        }
        if (password.getBytes(StandardCharsets.UTF_8).length > 8) {
            LOG.warn("VNC password is longer than 8 bytes: only the first 8 count (RFB VNC Authentication)");
        }
        ServerSocketChannel ch = ServerSocketChannel.open();
        try {
            ch.bind(new InetSocketAddress(host, port));
            return new VncServer(ch, null, VncAuth.key(password), fb, input, options);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    private static void prepare(Path socket) throws IOException {
        if (socket.toString().getBytes(StandardCharsets.UTF_8).length > 90) {
            // 107 bytes is the kernel's limit, and the temporary bind name adds up to ~17.
            throw new IOException(socket + ": unix socket paths are limited to 90 bytes here");
        }
        Path parent = socket.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            throw new IOException(socket + ": directory " + parent + " does not exist");
        }
        SocketFileSystems.requireSocketCapable(socket);
        if (Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
            boolean listening;
            try (SocketChannel probe = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                probe.connect(UnixDomainSocketAddress.of(socket));
                listening = true;
            } catch (IOException e) {
                listening = false;
            }
            if (listening) {
                throw new IOException(socket + ": already in use by a running process");
            }
            Files.delete(socket);
        }
    }

    /** Where clients connect: the Unix socket's path, or the bound TCP address (with the real port). */
    public SocketAddress address() {
        return address;
    }

    /** Connections being served now (handshaking or connected). */
    public int clientCount() {
        return live.size();
    }

    Framebuffer framebuffer() {
        return fb;
    }

    InputSink input() {
        return input;
    }

    Options options() {
        return options;
    }

    /** The DES key for VNC Authentication, or null for security type None. */
    byte[] authKey() {
        return authKey;
    }

    AuthThrottle throttle() {
        return throttle;
    }

    private void acceptLoop() {
        long lastAcceptWarning = System.nanoTime() - ACCEPT_WARNING_EVERY_NANOS;
        while (!closed) {
            SocketChannel ch;
            try {
                ch = server.accept();
            } catch (IOException e) {
                if (closed) {
                    return;
                }
                // Often passing (EMFILE while descriptors are short): keep serving, logging at a bounded rate.
                if (System.nanoTime() - lastAcceptWarning >= ACCEPT_WARNING_EVERY_NANOS) {
                    lastAcceptWarning = System.nanoTime();
                    LOG.warn("VNC server could not accept a connection (retrying): {}", e.toString());
                }
                try {
                    Thread.sleep(ACCEPT_RETRY);
                } catch (InterruptedException ie) {
                    return;
                }
                continue;
            }
            String name = "vnc-" + counter.incrementAndGet();
            ClientSession s = null;
            try {
                // One peer (an IPv4 address, an IPv6 /64) may have at most MAX_HANDSHAKING_PER_PEER
                // connections in their handshake: connections that never answer, each held up to the
                // handshake timeout, cannot take every slot from one place.
                String peer = peerOf(ch);
                if (peer != null && handshakingFrom(peer) >= MAX_HANDSHAKING_PER_PEER) {
                    ch.close();
                    continue;
                }
                if (live.size() < options.maxClients()) {
                    s = new ClientSession(this, new RfbChannel(ch), name, null, peer);
                    live.add(s);
                    if (closed) {
                        s.close();
                    }
                    Thread.ofPlatform().name(name + "-in").daemon(true).start(s::run);
                } else if (refusing.size() < MAX_REFUSING) {
                    s = new ClientSession(this, new RfbChannel(ch), name,
                            "too many VNC clients (at most " + options.maxClients() + ")", peer);
                    refusing.add(s);
                    if (closed) {
                        s.close();
                    }
                    Thread.ofPlatform().name(name + "-refuse").daemon(true).start(s::run);
                } else {
                    ch.close();
                }
            } catch (IOException | OutOfMemoryError e) {
                // OutOfMemoryError: no thread for the session (the VMM's thread limit); the server keeps accepting.
                LOG.debug("{}: {}", name, e.toString());
                if (s != null) {
                    s.close();
                    sessionEnded(s);
                }
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // gone anyway
                }
            }
        }
    }

    /** The peer of a TCP connection ({@link AuthThrottle#peerOf}), or null (a Unix socket: this user's own). */
    private static String peerOf(SocketChannel ch) {
        try {
            return ch.getRemoteAddress() instanceof java.net.InetSocketAddress inet ? AuthThrottle.peerOf(inet.getAddress()) : null;
        } catch (IOException e) {
            return null;
        }
    }

    /** Connections from {@code peer} not yet through their handshake (over the cap or not). */
    private int handshakingFrom(String peer) {
        int n = 0;
        for (Set<ClientSession> set : List.of(live, refusing)) {
            for (ClientSession x : set) {
                n += peer.equals(x.peer()) && !active.contains(x) ? 1 : 0;
            }
        }
        return n;
    }

    /** The session finished its handshake: it now wants damage reports. */
    synchronized void sessionActive(ClientSession s) {
        active.add(s);
        if (subscription == null && !closed) {
            subscription = fb.subscribe(damage);
        }
    }

    /**
     * The session ended (both threads are told to stop): unsubscribe if it was the last. The
     * subscription goes before the session leaves {@link #clientCount}, which is read without this
     * lock: a count of 0 then means nothing is subscribed any more (HostileClientProperties saw
     * the count at 0 and the framebuffer still subscribed once in a no-KVM run).
     */
    synchronized void sessionEnded(ClientSession s) {
        active.remove(s);
        if (active.isEmpty() && subscription != null) {
            subscription.close();
            subscription = null;
        }
        live.remove(s);
        refusing.remove(s);
    }

    private final DamageListener damage = new DamageListener() {
        @Override
        public void damaged(int x, int y, int width, int height) {
            for (ClientSession s : active) {
                s.damaged(x, y, width, height);
            }
        }

        @Override
        public void modeChanged(DisplayMode mode) {
            for (ClientSession s : active) {
                s.modeChanged();
            }
        }
    };

    /** Disconnects every client, stops listening and removes the socket file. */
    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException e) {
            // closing anyway
        }
        for (ClientSession s : live) {
            s.close();
        }
        for (ClientSession s : refusing) {
            s.close();
        }
        synchronized (this) {
            if (subscription != null) {
                subscription.close();
                subscription = null;
            }
        }
        if (socketFile != null) {
            try {
                Files.deleteIfExists(socketFile);
            } catch (IOException e) {
                // nothing more to do
            }
        }
    }
}
