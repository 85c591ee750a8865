package io.jkvm.vmm.diag;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/** Unit: the silent-console reporter asks for one vCPU report per silent stretch, and its setting is checked. */
class SilentConsoleReporterTest {
    private Thread watcher;

    @AfterEach
    void stop() {
        System.clearProperty(SilentConsoleReporter.PROPERTY);
        if (watcher != null) {
            watcher.interrupt();
        }
    }

    @Test
    void aSilentConsoleGetsAReportAndOutputResumingReArmsIt() throws Exception {
        AtomicLong last = new AtomicLong();
        AtomicInteger reports = new AtomicInteger();
        CountDownLatch first = new CountDownLatch(1);
        CountDownLatch second = new CountDownLatch(2);
        watcher = SilentConsoleReporter.start(Duration.ofSeconds(1), last::get, timeout -> {
            reports.incrementAndGet();
            first.countDown();
            second.countDown();
            return MachineReport.none("test");
        });
        assertThat(first.await(60, TimeUnit.SECONDS)).as("a report after a silent second").isTrue();
        int afterFirst = reports.get();
        last.set(System.nanoTime()); // the guest wrote again: a new silent stretch begins
        assertThat(second.await(60, TimeUnit.SECONDS)).as("a report for the new stretch").isTrue();
        assertThat(afterFirst).as("one report for the first stretch").isEqualTo(1);
    }

    @Test
    void theSettingIsSecondsAndABadOneIsOff() {
        assertThat(SilentConsoleReporter.configured()).isNull();
        System.setProperty(SilentConsoleReporter.PROPERTY, "120");
        assertThat(SilentConsoleReporter.configured()).isEqualTo(Duration.ofSeconds(120));
        for (String bad : new String[] {"0", "-5", "ten", "100000"}) {
            System.setProperty(SilentConsoleReporter.PROPERTY, bad);
            assertThat(SilentConsoleReporter.configured()).as(bad).isNull();
        }
    }
}
