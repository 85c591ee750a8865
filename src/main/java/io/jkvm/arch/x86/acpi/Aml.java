package io.jkvm.arch.x86.acpi;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A minimal encoder for ACPI Machine Language (ACPI 6.4 §20.2, "AML Grammar Definition"): just
 * enough to write a DSDT with named objects, packages, buffers, devices and scopes. Each method
 * returns the encoded bytes of one AML term so terms compose by nesting calls.
 */
public final class Aml {
    private Aml() {}

    // §20.2.3 data objects, §20.2.5 term objects, §20.2.2 name objects.
    public static final int ZERO_OP = 0x00;
    public static final int ONE_OP = 0x01;
    public static final int NAME_OP = 0x08;
    public static final int BYTE_PREFIX = 0x0a;
    public static final int WORD_PREFIX = 0x0b;
    public static final int DWORD_PREFIX = 0x0c;
    public static final int STRING_PREFIX = 0x0d;
    public static final int QWORD_PREFIX = 0x0e;
    public static final int SCOPE_OP = 0x10;
    public static final int BUFFER_OP = 0x11;
    public static final int PACKAGE_OP = 0x12;
    public static final int EXT_OP_PREFIX = 0x5b;
    public static final int DEVICE_OP = 0x82;
    public static final int ROOT_CHAR = '\\';
    public static final int PARENT_PREFIX = '^';
    public static final int DUAL_NAME_PREFIX = 0x2e;
    public static final int MULTI_NAME_PREFIX = 0x2f;
    /** Largest value a 4-byte PkgLength can hold (28 bits). */
    public static final int MAX_PKG_LENGTH = (1 << 28) - 1;

    public static final byte[] ZERO = {ZERO_OP};
    public static final byte[] ONE = {ONE_OP};

    /** Name(path, value): DefName := NameOp NameString DataRefObject. */
    public static byte[] name(String path, byte[] value) {
        return concat(new byte[] {NAME_OP}, nameString(path), value);
    }

    /** Scope(path) { terms }: DefScope := ScopeOp PkgLength NameString TermList. */
    public static byte[] scope(String path, byte[]... terms) {
        return concat(new byte[] {SCOPE_OP}, withPkgLength(concat(nameString(path), concat(terms))));
    }

    /** Device(path) { terms }: DefDevice := DeviceOp(0x5B 0x82) PkgLength NameString TermList. */
    public static byte[] device(String path, byte[]... terms) {
        return concat(new byte[] {EXT_OP_PREFIX, (byte) DEVICE_OP},
                withPkgLength(concat(nameString(path), concat(terms))));
    }

    /** Package() { elements }: DefPackage := PackageOp PkgLength NumElements PackageElementList. */
    public static byte[] pkg(byte[]... elements) {
        if (elements.length > 255) {
            throw new IllegalArgumentException("Package with " + elements.length + " elements needs VarPackageOp");
        }
        return concat(new byte[] {PACKAGE_OP}, withPkgLength(concat(new byte[] {(byte) elements.length}, concat(elements))));
    }

    /** Buffer() { bytes }: DefBuffer := BufferOp PkgLength BufferSize ByteList. */
    public static byte[] buffer(byte[] bytes) {
        return concat(new byte[] {BUFFER_OP}, withPkgLength(concat(integer(bytes.length), bytes)));
    }

    /** The shortest encoding of an integer constant (Zero, One, or Byte/Word/DWord/QWord const). */
    public static byte[] integer(long v) {
        if (v == 0) {
            return ZERO.clone();
        }
        if (v == 1) {
            return ONE.clone();
        }
        if (v > 0 && v <= 0xff) {
            return byteConst((int) v);
        }
        if (v > 0 && v <= 0xffff) {
            return wordConst((int) v);
        }
        if (v > 0 && v <= 0xffff_ffffL) {
            return dwordConst(v);
        }
        return qwordConst(v);
    }

    public static byte[] byteConst(int v) {
        return new byte[] {BYTE_PREFIX, (byte) v};
    }

    public static byte[] wordConst(int v) {
        return new byte[] {WORD_PREFIX, (byte) v, (byte) (v >> 8)};
    }

    public static byte[] dwordConst(long v) {
        return new byte[] {DWORD_PREFIX, (byte) v, (byte) (v >> 8), (byte) (v >> 16), (byte) (v >> 24)};
    }

    public static byte[] qwordConst(long v) {
        byte[] out = new byte[9];
        out[0] = QWORD_PREFIX;
        for (int i = 0; i < 8; i++) {
            out[1 + i] = (byte) (v >>> (8 * i));
        }
        return out;
    }

    /** String constant: StringPrefix AsciiCharList NullChar (characters 0x01-0x7F). */
    public static byte[] string(String s) {
        byte[] chars = s.getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 1 || c > 0x7f) {
                throw new IllegalArgumentException("AML strings are 7-bit ASCII without NUL: " + s);
            }
        }
        byte[] out = new byte[chars.length + 2];
        out[0] = STRING_PREFIX;
        System.arraycopy(chars, 0, out, 1, chars.length);
        return out;
    }

    /** EisaId("PNP0A03") as the DWordConst iasl emits. */
    public static byte[] eisaId(String id) {
        return dwordConst(eisaIdValue(id));
    }

    /**
     * The compressed EISA ID (ACPI 6.4 §19.6.35): three letters in 5 bits each ('A' = 1) in the
     * first big-endian 16 bits, then four hex digits; the resulting 4 bytes read as a little-endian
     * DWORD.
     */
    public static long eisaIdValue(String id) {
        if (!id.matches("[A-Z]{3}[0-9A-F]{4}")) {
            throw new IllegalArgumentException("not an EISA ID (AAA#### with hex digits): " + id);
        }
        int vendor = (id.charAt(0) - 0x40) << 10 | (id.charAt(1) - 0x40) << 5 | (id.charAt(2) - 0x40);
        int product = Integer.parseInt(id.substring(3), 16);
        int b0 = vendor >> 8;
        int b1 = vendor & 0xff;
        int b2 = product >> 8;
        int b3 = product & 0xff;
        return (b0 | b1 << 8 | b2 << 16 | (long) b3 << 24);
    }

    /**
     * A NameString (§20.2.2): optional root '\' or parent '^' prefixes, then dot-separated
     * segments of up to 4 characters (padded with '_'), encoded as NullName, a NameSeg, a
     * DualNamePath or a MultiNamePath.
     */
    public static byte[] nameString(String path) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int i = 0;
        if (path.startsWith("\\")) {
            out.write(ROOT_CHAR);
            i = 1;
        } else {
            while (i < path.length() && path.charAt(i) == '^') {
                out.write(PARENT_PREFIX);
                i++;
            }
        }
        String rest = path.substring(i);
        String[] segs = rest.isEmpty() ? new String[0] : rest.split("\\.", -1);
        if (segs.length == 0) {
            out.write(0); // NullName
        } else if (segs.length == 2) {
            out.write(DUAL_NAME_PREFIX);
        } else if (segs.length > 2) {
            if (segs.length > 255) {
                throw new IllegalArgumentException("name path too long: " + path);
            }
            out.write(MULTI_NAME_PREFIX);
            out.write(segs.length);
        }
        for (String s : segs) {
            out.writeBytes(nameSeg(s));
        }
        return out.toByteArray();
    }

    /** NameSeg := LeadNameChar NameChar NameChar NameChar, short names padded with '_'. */
    public static byte[] nameSeg(String seg) {
        if (!seg.matches("[A-Z_][A-Z0-9_]{0,3}")) {
            throw new IllegalArgumentException("bad AML name segment '" + seg + "'");
        }
        byte[] out = {'_', '_', '_', '_'};
        for (int i = 0; i < seg.length(); i++) {
            out[i] = (byte) seg.charAt(i);
        }
        return out;
    }

    /** {@code body} preceded by the PkgLength that covers itself plus the body (§20.2.4). */
    public static byte[] withPkgLength(byte[] body) {
        for (int n = 1; n <= 4; n++) {
            long total = (long) body.length + n;
            if (total <= maxForBytes(n)) {
                return concat(pkgLength((int) total), body);
            }
        }
        throw new IllegalArgumentException("AML package body of " + body.length + " bytes exceeds PkgLength range");
    }

    /**
     * Encodes {@code value} (which must already include the encoding's own bytes) as a PkgLength:
     * one byte with 6 bits for values up to 63; otherwise a lead byte holding the count of
     * following bytes in bits 7:6 and the low 4 bits of the value, then the remaining bits
     * little-endian in 1-3 further bytes.
     */
    public static byte[] pkgLength(int value) {
        if (value < 0 || value > MAX_PKG_LENGTH) {
            throw new IllegalArgumentException("PkgLength " + value + " out of range");
        }
        if (value <= maxForBytes(1)) {
            return new byte[] {(byte) value};
        }
        int extra = value <= maxForBytes(2) ? 1 : value <= maxForBytes(3) ? 2 : 3;
        byte[] out = new byte[extra + 1];
        out[0] = (byte) (extra << 6 | (value & 0xf));
        for (int i = 1; i <= extra; i++) {
            out[i] = (byte) (value >>> (4 + 8 * (i - 1)));
        }
        return out;
    }

    private static long maxForBytes(int n) {
        return n == 1 ? 63 : (1L << (4 + 8 * (n - 1))) - 1;
    }

    public static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }
}
