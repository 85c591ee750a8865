package io.jkvm.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.launcher.TagFilter;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The tier runs each failed test once more and records both outcomes; passing tests run once. */
class TierLauncherRetryTest {
    @Test
    void eachFailedTestRunsOnceMoreAndBothOutcomesAreRecorded() throws Exception {
        FailsOnceFixture.RUNS.set(0);
        StringWriter out = new StringWriter();
        TierLauncher.execute(LauncherFactory.create(), LauncherDiscoveryRequestBuilder.request()
                        .selectors(DiscoverySelectors.selectClass(FailsOnceFixture.class))
                        .filters(TagFilter.includeTags("tier-selftest")).build(),
                "tier-selftest", out, new TierStallWatch(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8)));
        List<String> ends = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (String line : out.toString().split("\n")) {
            JsonNode t = json.readTree(line);
            if (!t.path("status").asText().equals("STARTED")) {
                ends.add(t.path("method").asText() + " " + t.path("status").asText() + (t.path("retry").asBoolean() ? " retry" : ""));
            }
        }
        assertThat(ends).containsExactlyInAnyOrder(
                "FailsOnceFixture.failsOnce FAILED", "FailsOnceFixture.alwaysFails FAILED", "FailsOnceFixture.passes PASSED",
                "FailsOnceFixture.failsOnce PASSED retry", "FailsOnceFixture.alwaysFails FAILED retry");
    }
}
