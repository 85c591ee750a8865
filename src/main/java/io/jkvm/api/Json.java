package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.exc.InputCoercionException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.type.LogicalType;

import java.util.Collection;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The strict JSON mapping the API uses: unknown fields, wrong types (no "2" for 2, no 2.5 for
 * an integer, no 1 for true), numbers out of range, duplicate keys and trailing garbage are all
 * errors, at any depth, reported as one line that names the field ({@code rate_limiter.ops.size})
 * in jkvm's words: Jackson's own messages (type names, source locations) never reach a client.
 */
public final class Json {
    public static final ObjectMapper MAPPER = build();

    private Json() {}

    private static ObjectMapper build() {
        JsonMapper m = JsonMapper.builder()
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
                .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
                .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                .serializationInclusion(JsonInclude.Include.NON_NULL)
                .build();
        for (LogicalType t : List.of(LogicalType.Textual, LogicalType.Integer, LogicalType.Float, LogicalType.Boolean)) {
            m.coercionConfigFor(t)
                    .setCoercion(CoercionInputShape.Integer, t == LogicalType.Integer || t == LogicalType.Float
                            ? CoercionAction.TryConvert : CoercionAction.Fail)
                    .setCoercion(CoercionInputShape.Float, t == LogicalType.Float ? CoercionAction.TryConvert : CoercionAction.Fail)
                    .setCoercion(CoercionInputShape.Boolean, t == LogicalType.Boolean ? CoercionAction.TryConvert : CoercionAction.Fail)
                    .setCoercion(CoercionInputShape.String, t == LogicalType.Textual ? CoercionAction.TryConvert : CoercionAction.Fail)
                    .setCoercion(CoercionInputShape.EmptyString, t == LogicalType.Textual ? CoercionAction.TryConvert : CoercionAction.Fail);
        }
        return m;
    }

    /** Parses {@code body} as a {@code type}, or throws a 400 that says what is wrong with it. */
    public static <T> T parse(byte[] body, Class<T> type) {
        if (body == null || body.length == 0) {
            throw ApiException.badRequest("empty body: expected a JSON object");
        }
        try {
            T value = MAPPER.readValue(body, type);
            if (value == null) {
                throw ApiException.badRequest("expected a JSON object, got null");
            }
            return value;
        } catch (JsonProcessingException e) {
            throw ApiException.badRequest(describe(e));
        } catch (java.io.CharConversionException e) {
            throw ApiException.badRequest("malformed JSON: the body is not UTF-8 text");
        } catch (java.io.IOException e) {
            throw ApiException.badRequest("malformed JSON: unreadable body");
        }
    }

    public static String write(Object value) {
        try {
            return MAPPER.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot serialize " + value.getClass().getSimpleName(), e);
        }
    }

    /** Firecracker's error body. */
    public static String fault(String message) {
        return write(java.util.Map.of("fault_message", message));
    }

    /** One line naming the problem and, where Jackson knows it, the field. */
    static String describe(JsonProcessingException e) {
        if (e instanceof UnrecognizedPropertyException u) {
            return "unknown field '" + path(u) + "'" + known(u.getKnownPropertyIds());
        }
        if (e instanceof InputCoercionException) {
            return "number out of range" + at(e);
        }
        if (e instanceof JsonParseException) {
            return "malformed JSON" + at(e) + ": " + parserProblem(e.getOriginalMessage());
        }
        if (e instanceof MismatchedInputException m) {
            String field = path(m);
            String original = firstLine(m.getOriginalMessage());
            if (original.startsWith("Trailing token")) {
                return "malformed JSON: unexpected content after the JSON value";
            }
            if (original.contains("Duplicate field")) {
                return "duplicate field" + (field.isEmpty() ? "" : " '" + field + "'");
            }
            String expected = expected(m.getTargetType());
            if (field.isEmpty()) {
                return "wrong type: expected " + expected;
            }
            return "field '" + field + "': wrong type, expected " + expected;
        }
        if (e instanceof JsonMappingException m) {
            Throwable cause = m.getCause();
            if (cause instanceof ApiException api) {
                return api.getMessage();
            }
            String field = path(m);
            String prefix = field.isEmpty() ? "" : "field '" + field + "': ";
            if (cause instanceof InputCoercionException) {
                return prefix + "number out of range for an integer";
            }
            if (cause instanceof JsonParseException p) {
                return "malformed JSON" + at(p) + ": " + parserProblem(p.getOriginalMessage());
            }
            // Jackson's wording here names Java types: say it in ours.
            return prefix + "invalid value";
        }
        return "malformed JSON";
    }

    /**
     * The parser's complaint without what is Jackson's rather than the client's: the first line,
     * no Java type names, no source excerpt.
     */
    private static String parserProblem(String original) {
        String line = firstLine(original);
        int src = line.indexOf("[Source");
        if (src >= 0) {
            line = line.substring(0, src).trim();
        }
        line = line.replaceAll("`[^`]*`", "a value").replace("java.lang.", "");
        return line.isEmpty() ? "unexpected input" : line;
    }

    private static String expected(Class<?> type) {
        if (type == null) {
            return "another type";
        }
        if (type == Integer.class || type == int.class || type == Long.class || type == long.class) {
            return "an integer";
        }
        if (type == Boolean.class || type == boolean.class) {
            return "true or false";
        }
        if (type == String.class) {
            return "a string";
        }
        if (Collection.class.isAssignableFrom(type) || type.isArray()) {
            return "an array";
        }
        return "a JSON object";
    }

    private static String path(JsonMappingException e) {
        return e.getPath().stream()
                .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                .collect(Collectors.joining(".")).replace(".[", "[");
    }

    private static String known(Collection<Object> ids) {
        if (ids == null || ids.isEmpty()) {
            return "";
        }
        return " (known fields: " + ids.stream().map(String::valueOf).sorted().collect(Collectors.joining(", ")) + ")";
    }

    private static String at(JsonProcessingException e) {
        var loc = e.getLocation();
        return loc == null ? "" : " at line " + loc.getLineNr() + " column " + loc.getColumnNr();
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        String line = nl >= 0 ? s.substring(0, nl) : s;
        return line.length() > 200 ? line.substring(0, 200) + "..." : line;
    }
}
