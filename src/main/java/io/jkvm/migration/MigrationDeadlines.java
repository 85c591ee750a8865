package io.jkvm.migration;

import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * The deadlines of a migration's blocking steps (an incoming TLS handshake, a post-copy chunk
 * asked for): a read's own timeout restarts with every byte, so a peer trickling bytes would
 * never trip it; a deadline on the whole step closes the connection instead. One daemon thread
 * serves every deadline of this VMM; a cancelled deadline leaves the queue at once, so a
 * migration of many steps does not fill it.
 */
final class MigrationDeadlines {
    private static final ScheduledThreadPoolExecutor SCHEDULER = scheduler();

    private MigrationDeadlines() {}

    /** Runs {@code action} after {@code millis} unless the returned future is cancelled first. */
    static ScheduledFuture<?> after(long millis, Runnable action) {
        return SCHEDULER.schedule(action, millis, TimeUnit.MILLISECONDS);
    }

    private static ScheduledThreadPoolExecutor scheduler() {
        ScheduledThreadPoolExecutor e = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "jkvm-migration-deadline");
            t.setDaemon(true);
            return t;
        });
        e.setRemoveOnCancelPolicy(true);
        return e;
    }
}
