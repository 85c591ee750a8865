package io.jkvm.vmm.diag;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * {@code kill -USR1 <VMM pid>} prints a {@link MachineReport} of the running VM, the way
 * {@code kill -QUIT} prints a JVM's threads. SIGUSR1 is free in HotSpot on Linux (it reserves
 * SIGQUIT, SIGUSR2 for thread suspension, and the fault signals); the handler runs on a Java
 * thread the JVM starts for the signal, never in signal context. Signals that arrive while a
 * report is being gathered are coalesced into it.
 */
public final class ReportSignal {
    private static final Logger LOG = LoggerFactory.getLogger(ReportSignal.class);

    /** How long a report waits for each vCPU thread to answer before calling it stuck. */
    public static final Duration ANSWER_TIMEOUT = Duration.ofSeconds(5);

    /** Gathers a report; {@code answerTimeout} bounds the wait for vCPU threads. */
    @FunctionalInterface
    public interface Source {
        MachineReport report(Duration answerTimeout) throws InterruptedException;
    }

    private ReportSignal() {}

    /**
     * Makes SIGUSR1 hand a report from {@code source} to {@code sink}. Returns false, after
     * logging why, when the JVM does not let the signal be handled (e.g. -Xrs).
     */
    public static boolean install(Source source, Consumer<MachineReport> sink) {
        AtomicBoolean busy = new AtomicBoolean();
        try {
            sun.misc.Signal.handle(new sun.misc.Signal("USR1"), sig -> {
                if (!busy.compareAndSet(false, true)) {
                    return;
                }
                try {
                    sink.accept(source.report(ANSWER_TIMEOUT));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } catch (RuntimeException e) {
                    LOG.warn("vCPU report failed: {}", e.toString());
                } finally {
                    busy.set(false);
                }
            });
            return true;
        } catch (IllegalArgumentException e) {
            LOG.warn("SIGUSR1 vCPU reports are off: {}", e.getMessage());
            return false;
        }
    }
}
