package io.jkvm.mmds;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Example;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** RFC 7396's laws for {@link JsonMergePatch}, on generated documents. */
class JsonMergePatchProperties {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;

    @Provide
    Arbitrary<JsonNode> docs() {
        return node(3);
    }

    private static Arbitrary<JsonNode> node(int depth) {
        Arbitrary<JsonNode> leaf = Arbitraries.oneOf(
                Arbitraries.strings().ofMaxLength(4).map(s -> (JsonNode) F.textNode(s)),
                Arbitraries.integers().between(-3, 3).map(i -> (JsonNode) F.numberNode(i)),
                Arbitraries.of(true, false).map(b -> (JsonNode) F.booleanNode(b)),
                Arbitraries.just(F.nullNode()));
        if (depth == 0) {
            return leaf;
        }
        Arbitrary<JsonNode> object = Arbitraries.maps(Arbitraries.of("a", "b", "c", "d"), node(depth - 1)).ofMaxSize(4)
                .map(m -> {
                    ObjectNode o = F.objectNode();
                    m.forEach(o::set);
                    return o;
                });
        Arbitrary<JsonNode> array = node(depth - 1).list().ofMaxSize(3).map(l -> {
            var a = F.arrayNode();
            l.forEach(a::add);
            return a;
        });
        return Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(2, leaf), net.jqwik.api.Tuple.of(3, object),
                net.jqwik.api.Tuple.of(1, array));
    }

    /** The patch without its nulls inside objects: what merging it leaves. */
    private static JsonNode withoutNulls(JsonNode n) {
        if (!n.isObject()) {
            return n;
        }
        ObjectNode o = F.objectNode();
        for (Map.Entry<String, JsonNode> e : n.properties()) {
            if (!e.getValue().isNull()) {
                o.set(e.getKey(), withoutNulls(e.getValue()));
            }
        }
        return o;
    }

    @Property
    void patchingIsIdempotent(@ForAll("docs") JsonNode target, @ForAll("docs") JsonNode patch) {
        JsonNode once = JsonMergePatch.apply(target, patch);
        assertThat(JsonMergePatch.apply(once, patch)).isEqualTo(once);
    }

    @Property
    void theArgumentsAreNotModified(@ForAll("docs") JsonNode target, @ForAll("docs") JsonNode patch) {
        JsonNode t = target.deepCopy();
        JsonNode p = patch.deepCopy();
        JsonMergePatch.apply(target, patch);
        assertThat(target).isEqualTo(t);
        assertThat(patch).isEqualTo(p);
    }

    @Property
    void aPatchOntoNothingIsThePatchWithoutItsNulls(@ForAll("docs") JsonNode patch) {
        assertThat(JsonMergePatch.apply(F.objectNode(), patch)).isEqualTo(
                patch.isObject() ? withoutNulls(patch) : patch);
    }

    @Property
    void everyNonNullMemberOfAnObjectPatchIsInTheResultAndEveryNullOneIsGone(@ForAll("docs") JsonNode target,
            @ForAll("docs") JsonNode patch) {
        JsonNode r = JsonMergePatch.apply(target, patch);
        if (!patch.isObject()) {
            assertThat(r).isEqualTo(patch);
            return;
        }
        assertThat(r.isObject()).isTrue();
        for (Map.Entry<String, JsonNode> e : patch.properties()) {
            if (e.getValue().isNull()) {
                assertThat(r.has(e.getKey())).isFalse();
            } else {
                assertThat(r.get(e.getKey())).isEqualTo(JsonMergePatch.apply(target.get(e.getKey()), e.getValue()));
            }
        }
        if (target.isObject()) {
            for (Map.Entry<String, JsonNode> e : target.properties()) {
                if (!patch.has(e.getKey())) {
                    assertThat(r.get(e.getKey())).isEqualTo(e.getValue());
                }
            }
        }
    }

    @Example
    void theRfcsExample() throws Exception {
        var m = new com.fasterxml.jackson.databind.ObjectMapper();
        JsonNode target = m.readTree("{\"title\":\"Goodbye!\",\"author\":{\"givenName\":\"John\",\"familyName\":\"Doe\"},"
                + "\"tags\":[\"example\",\"sample\"],\"content\":\"This will be unchanged\"}");
        JsonNode patch = m.readTree("{\"title\":\"Hello!\",\"phoneNumber\":\"+01-123-456-7890\","
                + "\"author\":{\"familyName\":null},\"tags\":[\"example\"]}");
        assertThat(JsonMergePatch.apply(target, patch)).isEqualTo(m.readTree("{\"title\":\"Hello!\",\"author\":"
                + "{\"givenName\":\"John\"},\"tags\":[\"example\"],\"content\":\"This will be unchanged\","
                + "\"phoneNumber\":\"+01-123-456-7890\"}"));
    }
}
