package io.jkvm.vmm.diag;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.function.LongSupplier;

/**
 * Logs what each vCPU is doing when the guest's serial console has been silent for a set time
 * while the guest runs: the report {@code kill -USR1} gives, for runs nobody is there to signal
 * (a CI job in the lab, where a stuck boot otherwise ends as "no output for 5 minutes" and
 * nothing more). One report per silent stretch; output resuming re-arms it.
 *
 * <p>On with {@code JKVM_HANG_REPORT=SECONDS} (or {@code -Djkvm.hang.report=SECONDS}); off by
 * default, since a guest with nothing to say is not stuck.
 */
public final class SilentConsoleReporter {
    private static final Logger LOG = LoggerFactory.getLogger(SilentConsoleReporter.class);
    static final String ENV = "JKVM_HANG_REPORT";
    static final String PROPERTY = "jkvm.hang.report";

    /** How one report is taken: the VM's vCPU report, answered within the timeout. */
    public interface Source {
        MachineReport report(Duration answerTimeout) throws InterruptedException;
    }

    private SilentConsoleReporter() {}

    /** The configured silence, or null when off (absent, not a positive number of seconds: logged once). */
    public static Duration configured() {
        String v = System.getProperty(PROPERTY, System.getenv(ENV));
        if (v == null || v.isBlank()) {
            return null;
        }
        try {
            long s = Long.parseLong(v.strip());
            if (s > 0 && s <= 86_400) {
                return Duration.ofSeconds(s);
            }
        } catch (NumberFormatException e) {
            // fall through
        }
        LOG.warn("{}={}: not a number of seconds between 1 and 86400; no silent-console reports", ENV, v);
        return null;
    }

    /**
     * Starts the watcher thread (a daemon; interrupt it to stop). {@code lastOutputNanos} gives
     * System.nanoTime() of the console's last byte (0: none yet, counted from now).
     */
    public static Thread start(Duration silence, LongSupplier lastOutputNanos, Source source) {
        return start(silence, lastOutputNanos, source, () -> "");
    }

    /** The same, with a line on the console's own state ({@code consoleState}) before the report. */
    public static Thread start(Duration silence, LongSupplier lastOutputNanos, Source source,
            java.util.function.Supplier<String> consoleState) {
        return Thread.ofPlatform().name("hang-report").daemon(true).start(() -> {
            long since = System.nanoTime();
            long reportedFor = -1;
            try {
                while (!Thread.currentThread().isInterrupted()) {
                    Thread.sleep(1000); // a periodic check, not a synchronisation
                    long last = Math.max(lastOutputNanos.getAsLong(), since);
                    if (System.nanoTime() - last >= silence.toNanos() && reportedFor != last) {
                        reportedFor = last;
                        MachineReport r = source.report(Duration.ofSeconds(5));
                        LOG.warn("the serial console has been silent for {} s; {}; what each vCPU is doing:\n{}",
                                silence.toSeconds(), consoleState.get(), ReportText.render(r));
                    }
                }
            } catch (InterruptedException e) {
                // stopped with the VM
            } catch (RuntimeException e) {
                LOG.warn("silent-console report failed: {}", e.toString());
            }
        });
    }
}
