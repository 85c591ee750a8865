package io.jkvm.arch.x86.acpi;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A tiny AML decoder for tests: understands exactly the subset {@link Aml} emits (Name, Scope,
 * Device, Package, Buffer, integers, strings) and records every named object by absolute path.
 * Values: Long, String, byte[] (buffer contents), List (package elements).
 */
final class AmlDecoder {
    final Map<String, Object> names = new LinkedHashMap<>();
    final List<String> devices = new ArrayList<>();
    private final byte[] b;
    private int p;

    private AmlDecoder(byte[] aml) {
        this.b = aml;
    }

    static AmlDecoder decode(byte[] aml, int from) {
        AmlDecoder d = new AmlDecoder(aml);
        d.p = from;
        d.termList(aml.length, "\\");
        return d;
    }

    private void termList(int end, String scope) {
        while (p < end) {
            int op = u8();
            switch (op) {
                case Aml.NAME_OP -> {
                    String name = resolve(scope, nameString());
                    names.put(name, dataObject());
                }
                case Aml.SCOPE_OP -> {
                    int e = pkgEnd();
                    String s = resolve(scope, nameString());
                    termList(e, s);
                }
                case Aml.EXT_OP_PREFIX -> {
                    int ext = u8();
                    if (ext != Aml.DEVICE_OP) {
                        throw new IllegalStateException("unexpected ext op " + ext);
                    }
                    int e = pkgEnd();
                    String s = resolve(scope, nameString());
                    devices.add(s);
                    termList(e, s);
                }
                default -> throw new IllegalStateException(String.format("unexpected opcode 0x%x at %d", op, p - 1));
            }
        }
        if (p != end) {
            throw new IllegalStateException("term list overran its package: " + p + " vs " + end);
        }
    }

    private Object dataObject() {
        int op = u8();
        return switch (op) {
            case Aml.ZERO_OP -> 0L;
            case Aml.ONE_OP -> 1L;
            case 0xff -> -1L;
            case Aml.BYTE_PREFIX -> (long) u8();
            case Aml.WORD_PREFIX -> (long) (u8() | u8() << 8);
            case Aml.DWORD_PREFIX -> (u8() | u8() << 8 | u8() << 16 | (long) u8() << 24);
            case Aml.QWORD_PREFIX -> {
                long v = 0;
                for (int i = 0; i < 8; i++) {
                    v |= (long) u8() << (8 * i);
                }
                yield v;
            }
            case Aml.STRING_PREFIX -> {
                int s = p;
                while (b[p] != 0) {
                    p++;
                }
                String str = new String(b, s, p - s, StandardCharsets.US_ASCII);
                p++;
                yield str;
            }
            case Aml.PACKAGE_OP -> {
                int e = pkgEnd();
                int n = u8();
                List<Object> els = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    els.add(dataObject());
                }
                if (p != e) {
                    throw new IllegalStateException("package length mismatch");
                }
                yield els;
            }
            case Aml.BUFFER_OP -> {
                int e = pkgEnd();
                long size = (Long) dataObject();
                if (size != e - p) {
                    throw new IllegalStateException("buffer size " + size + " but " + (e - p) + " bytes");
                }
                byte[] out = java.util.Arrays.copyOfRange(b, p, e);
                p = e;
                yield out;
            }
            default -> throw new IllegalStateException(String.format("unexpected data opcode 0x%x", op));
        };
    }

    /** Reads a PkgLength and returns the absolute end offset of the package. */
    private int pkgEnd() {
        int start = p;
        return start + decodePkgLength();
    }

    int decodePkgLength() {
        int lead = u8();
        int extra = lead >>> 6;
        if (extra == 0) {
            return lead & 0x3f;
        }
        int v = lead & 0xf;
        for (int i = 0; i < extra; i++) {
            v |= u8() << (4 + 8 * i);
        }
        return v;
    }

    static int decodePkgLength(byte[] enc) {
        AmlDecoder d = new AmlDecoder(enc);
        int v = d.decodePkgLength();
        if (d.p != enc.length) {
            throw new IllegalStateException("trailing bytes");
        }
        return v;
    }

    private String nameString() {
        StringBuilder sb = new StringBuilder();
        if (b[p] == '\\') {
            sb.append('\\');
            p++;
        }
        while (b[p] == '^') {
            sb.append('^');
            p++;
        }
        int count;
        if (b[p] == 0) {
            p++;
            count = 0;
        } else if (b[p] == Aml.DUAL_NAME_PREFIX) {
            p++;
            count = 2;
        } else if (b[p] == Aml.MULTI_NAME_PREFIX) {
            p++;
            count = u8();
        } else {
            count = 1;
        }
        for (int i = 0; i < count; i++) {
            if (i > 0) {
                sb.append('.');
            }
            sb.append(new String(b, p, 4, StandardCharsets.US_ASCII));
            p += 4;
        }
        return sb.toString();
    }

    private static String resolve(String scope, String name) {
        if (name.startsWith("\\")) {
            return name;
        }
        return scope.equals("\\") ? "\\" + name : scope + "." + name;
    }

    private int u8() {
        return b[p++] & 0xff;
    }
}
