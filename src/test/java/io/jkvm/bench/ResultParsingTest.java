package io.jkvm.bench;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** What the host parses from its helpers: the C floor's line, the lab driver's JSON lines. */
class ResultParsingTest {
    @Test
    void cFloorOutputGivesExitsAndNanoseconds() throws IOException {
        CFloor.Run r = CFloor.parse("exits=128000 ns=897865651\n");
        assertThat(r.exits()).isEqualTo(128000);
        assertThat(r.nanos()).isEqualTo(897865651L);
    }

    @Test
    void unexpectedCFloorOutputIsAnError() {
        assertThatThrownBy(() -> CFloor.parse("KVM_RUN: Bad address")).isInstanceOf(IOException.class)
                .hasMessageContaining("KVM_RUN: Bad address");
    }

    @Test
    void driverLinesRoundTripAndOtherLinesAreIgnored() throws IOException {
        BootDriver.BootRun a = new BootDriver.BootRun("jkvm", 1, 1234.5, 5678.25, 6000, 2.31, 0, null);
        BootDriver.BootRun b = BootDriver.BootRun.failed("qemu", 1, "no \"jkvm-guest: up\" line");
        String out = "some noise\n" + a.toJson() + "\n\n" + b.toJson() + "\n";
        List<BootDriver.BootRun> runs = BootMetric.parse(out);
        assertThat(runs).containsExactly(a, b);
    }

    @Test
    void bootResultsGroupSamplesPerVmm() {
        List<BootDriver.BootRun> runs = List.of(
                new BootDriver.BootRun("jkvm", 1, 30000, 50000, 51000, 11.8, 0, null),
                new BootDriver.BootRun("qemu", 1, 7000, 19000, 19500, 2.4, 0, null),
                new BootDriver.BootRun("qemu", 2, 8000, 20000, 20500, 2.5, 0, null),
                new BootDriver.BootRun("jkvm", 2, 32000, 52000, 53000, 12.0, 0, null));
        List<MetricResult> r = BootMetric.results(runs);
        assertThat(r).extracting(MetricResult::name)
                .containsExactly("boot_first_byte_vs_qemu", "boot_init_vs_qemu", "boot_guest_uptime_vs_qemu");
        assertThat(r.get(0).jkvm().median()).isEqualTo(31000);
        assertThat(r.get(0).peer().median()).isEqualTo(7500);
        assertThat(r.get(1).jkvm().samples()).containsExactly(50000.0, 52000.0);
        assertThat(r.get(2).peer().median()).isEqualTo(2.45);
    }

    @Test
    void ioRoundLinesBecomeJsonAndResultsPerFigure() throws IOException {
        var round = IoDriver.parseRound("\r[  9.1] jkvm-io: round=2 seqread_mibs=550.5 seqwrite_mibs=579 "
                + "randread_iops=1601 net_tx_mibs=64.9 net_rx_mibs=113.26");
        assertThat(round).containsEntry("round", 2.0).containsEntry("randread_iops", 1601.0).hasSize(6);
        assertThat(IoDriver.parseRound("jkvm-io: done")).isNull();
        String out = IoDriver.json("jkvm", round) + "\nnoise\n"
                + IoDriver.json("qemu", IoDriver.parseRound("jkvm-io: round=1 seqread_mibs=500 seqwrite_mibs=500 "
                        + "randread_iops=1000 net_tx_mibs=80 net_rx_mibs=200"));
        List<MetricResult> r = IoMetric.results(IoMetric.parse(out));
        assertThat(r).extracting(MetricResult::name).containsExactly("blk_seq_read_vs_qemu", "blk_seq_write_vs_qemu",
                "blk_rand_read_vs_qemu", "net_tx_vs_qemu", "net_rx_vs_qemu");
        assertThat(r.get(2).ratio()).isEqualTo(1.601);
        assertThat(r.get(4).jkvm().median()).isEqualTo(113.26);

        // With the rate-limited run: two more rows, the guest's rate against the limit.
        String limited = out + "\n" + IoDriver.json(IoMetric.LIMITED, IoDriver.parseRound("jkvm-io: round=1 seqread_mibs=10.4"
                + " seqwrite_mibs=9.8 randread_iops=700 net_tx_mibs=80 net_rx_mibs=200"));
        List<MetricResult> withLimit = IoMetric.results(IoMetric.parse(limited));
        assertThat(withLimit).extracting(MetricResult::name).endsWith("blk_seq_read_limited_vs_limit", "blk_seq_write_limited_vs_limit");
        assertThat(withLimit.get(5).ratio()).isCloseTo(1.04, org.assertj.core.data.Offset.offset(1e-9));
        assertThat(withLimit.get(6).peerName()).isEqualTo("the limit");
    }

    @Test
    void theLimitedRunsConfigurationIsFirecrackersDocumentWithTheDrivesRateLimiter() throws Exception {
        var doc = new com.fasterxml.jackson.databind.ObjectMapper().readTree(IoDriver.limitedConfig("/k", "/i", "console=ttyS0", "/d.raw"));
        assertThat(doc.path("boot-source").path("boot_args").asText()).isEqualTo("console=ttyS0");
        var drive = doc.path("drives").get(0);
        assertThat(drive.path("path_on_host").asText()).isEqualTo("/d.raw");
        assertThat(drive.path("rate_limiter").path("bandwidth").path("size").asLong()).isEqualTo(1L << 20);
        assertThat(drive.path("rate_limiter").path("bandwidth").path("refill_time").asInt()).isEqualTo(100);
        assertThat(doc.path("network-interfaces").get(0).path("host_dev_name").asText()).isEqualTo(IoDriver.TAP);
        // 1 MiB per 100 ms is the limit the rows compare against.
        assertThat(IoDriver.LIMIT_BUCKET_BYTES * (1000 / IoDriver.LIMIT_REFILL_MS) >> 20).isEqualTo(IoDriver.LIMIT_MIBS);
    }

    @Test
    void guestUptimeComesFromTheDefaultGuestsFactsLine() {
        assertThat(BootDriver.guestUptime("jkvm-guest: up\njkvm-guest: kernel=6.1.0-56-amd64 cpus=1 mem_kb=210884 "
                + "date=2026-11-24T21:18:15Z uptime_s=11.80\n")).isEqualTo(11.8);
        assertThat(BootDriver.guestUptime("nothing")).isEqualTo(-1);
    }

    @Test
    void guestSourceUnrollsAndRejectsPartialLoops() {
        String s = BenchGuest.source(BenchGuest.Kind.PIO, 6400, 0);
        assertThat(s).contains(".set ITER, 100").contains(".rept 64").contains("$1264, %dx");
        assertThatThrownBy(() -> BenchGuest.source(BenchGuest.Kind.PIO, 100, 0))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
