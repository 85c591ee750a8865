package io.jkvm.mmds;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class MmdsStoreTest {
    private static final ObjectMapper M = new ObjectMapper();

    private static JsonNode j(String s) throws Exception {
        return M.readTree(s);
    }

    @Test
    void lookupFollowsFirecrackersPathRules() throws Exception {
        MmdsStore s = new MmdsStore(1000);
        assertThat(s.lookup("/")).isNull(); // nothing put yet: not found
        s.put(j("{\"latest\": {\"meta-data\": {\"ami-id\": \"ami-1\"}}, \"list\": [\"x\", \"y\"]}"));
        assertThat(s.lookup("/latest/meta-data/ami-id").asText()).isEqualTo("ami-1");
        assertThat(s.lookup("//latest///meta-data/")).isEqualTo(j("{\"ami-id\": \"ami-1\"}"));
        assertThat(s.lookup("/")).isEqualTo(s.value());
        assertThat(s.lookup("/list/1").asText()).isEqualTo("y");
        assertThat(s.lookup("/latest/nope")).isNull();
        assertThat(s.lookup("latest")).isNull();
    }

    @Test
    void sizeIsTheCompactJsonWithinTheLimit() throws Exception {
        MmdsStore s = new MmdsStore(11);
        s.put(j("{ \"a\" : \"bcd\" }"));
        assertThat(s.value()).isEqualTo(j("{\"a\":\"bcd\"}"));
        assertThatThrownBy(() -> s.put(j("{\"a\":\"bcde\"}"))).isInstanceOfSatisfying(MmdsException.class,
                e -> assertThat(e.reason()).isEqualTo(MmdsException.Reason.TOO_LARGE));
    }

    @Test
    void tokensExpireAndAreBoundToTheirKeyAndInstance() {
        AtomicLong now = new AtomicLong(1_000_000);
        MmdsTokens t = new MmdsTokens(now::get);
        t.bindTo("vm1");
        String token = t.issue(10);
        assertThat(t.isValid(token)).isTrue();
        assertThat(t.isValid(token.substring(1))).isFalse();
        assertThat(t.isValid("x".repeat(200))).isFalse();
        assertThat(t.isValid("not base64!")).isFalse();
        now.addAndGet(10_000);
        assertThat(t.isValid(token)).isFalse();
        String other = t.issue(5);
        t.bindTo("vm2");
        assertThat(t.isValid(other)).isFalse();
        assertThatThrownBy(() -> t.issue(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> t.issue(21601)).isInstanceOf(IllegalArgumentException.class);
        assertThat(MmdsTokens.validTtl(21600)).isTrue();
    }

    @Test
    void linkLocalAddresses() {
        assertThat(LinkLocal.parse("169.254.169.254")).isEqualTo(LinkLocal.DEFAULT);
        assertThat(LinkLocal.format(LinkLocal.parse("169.254.1.0"))).isEqualTo("169.254.1.0");
        for (String bad : new String[] {"169.254.0.9", "169.254.255.1", "10.0.0.1", "169.254.1", "169.254.1.1.1",
                "169.254.01a.1", "169.254.1.", "169.254.1.1000", "+169.254.1.1"}) {
            assertThatThrownBy(() -> LinkLocal.parse(bad)).as(bad).isInstanceOf(IllegalArgumentException.class);
        }
    }
}
