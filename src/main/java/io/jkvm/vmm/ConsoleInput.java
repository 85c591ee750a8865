package io.jkvm.vmm;

import io.jkvm.device.legacy.Serial16550;

import java.io.IOException;
import java.io.InputStream;

/**
 * Feeds host input (stdin) to the guest's UART on its own thread, waiting for FIFO space rather
 * than dropping bytes. Like QEMU, Ctrl-A x quits and Ctrl-A Ctrl-A sends one Ctrl-A; the escape
 * is only honoured when the input is interactive.
 */
public final class ConsoleInput {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ConsoleInput.class);
    public static final int ESCAPE = 0x01; // Ctrl-A

    private final InputStream in;
    private final Serial16550 uart;
    private final boolean interactive;
    private final Runnable onQuit;
    private volatile Thread thread;

    public ConsoleInput(InputStream in, Serial16550 uart, boolean interactive, Runnable onQuit) {
        this.in = in;
        this.uart = uart;
        this.interactive = interactive;
        this.onQuit = onQuit;
    }

    public void start() {
        Thread t = Thread.ofPlatform().name("console-input").daemon(true).unstarted(this::pump);
        thread = t;
        t.start();
    }

    private void pump() {
        byte[] buf = new byte[256];
        boolean escaped = false;
        try {
            while (true) {
                int n = in.read(buf);
                if (n < 0) {
                    LOG.debug("console input: end of file");
                    return; // the guest just sees no more input
                }
                int w = 0;
                for (int i = 0; i < n; i++) {
                    int b = buf[i] & 0xff;
                    if (interactive && escaped) {
                        escaped = false;
                        if (b == 'x' || b == 'X') {
                            onQuit.run();
                            return;
                        }
                        if (b != ESCAPE) {
                            continue; // unknown escape: swallow it
                        }
                    } else if (interactive && b == ESCAPE) {
                        escaped = true;
                        continue;
                    }
                    buf[w++] = (byte) b;
                }
                send(buf, w);
            }
        } catch (IOException e) {
            LOG.warn("console input stopped: {}", e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void send(byte[] buf, int len) throws InterruptedException {
        int off = 0;
        while (off < len) {
            off += uart.receive(buf, off, len - off);
            if (off < len) {
                uart.awaitRxSpace();
            }
        }
    }
}
