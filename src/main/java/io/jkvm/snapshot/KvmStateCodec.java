package io.jkvm.snapshot;

import io.jkvm.kvm.CpuidEntry;
import io.jkvm.kvm.KvmStructs;
import io.jkvm.kvm.MsrEntry;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The binary encoding of a {@link VmState} (the "kvm" section of a state file), designed to be
 * reused as-is by live migration.
 *
 * <pre>
 * u32 vmFieldCount, then vmFieldCount fields
 * u32 vcpuCount, then per vCPU: u32 id, u32 fieldCount, fields
 * field = u16 nameLength, name (UTF-8), u32 length, bytes
 * </pre>
 *
 * Fields are named kernel structures ("regs", "sregs", "xsave", "irqchip0", ...) so a later
 * version can add fields without breaking older snapshots; unknown fields are refused (they
 * would carry state this version cannot apply). Big-endian framing; the structures inside are
 * the kernel's little-endian bytes. Sizes are checked against asm/kvm.h on decode, so a
 * structure handed to an ioctl always has exactly the size the ioctl reads.
 */
final class KvmStateCodec {
    private KvmStateCodec() {}

    static final int MAX_FIELDS = 64;
    static final int MAX_FIELD_BYTES = 1 << 20;
    static final int MAX_MSRS = 4096;
    static final int MAX_CPUID = 4096;

    static byte[] encode(VmState s) {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bos)) {
            Map<String, byte[]> vm = new LinkedHashMap<>();
            for (int i = 0; i < s.irqchips().size(); i++) {
                vm.put("irqchip" + i, s.irqchips().get(i));
            }
            putIf(vm, "pit2", s.pit());
            putIf(vm, "clock", s.clock());
            writeFields(out, vm);
            out.writeInt(s.vcpus().size());
            for (VcpuState v : s.vcpus()) {
                out.writeInt(v.id());
                Map<String, byte[]> f = new LinkedHashMap<>();
                f.put("regs", v.regs());
                f.put("sregs", v.sregs());
                f.put("fpu", v.fpu());
                putIf(f, "xsave", v.xsave());
                putIf(f, "xcrs", v.xcrs());
                f.put("msrs", encodeMsrs(v.msrs()));
                putIf(f, "lapic", v.lapic());
                putIf(f, "events", v.events());
                f.put("mpstate", new byte[] {(byte) (v.mpState() >>> 24), (byte) (v.mpState() >>> 16),
                        (byte) (v.mpState() >>> 8), (byte) v.mpState()});
                putIf(f, "debugregs", v.debugRegs());
                if (!v.cpuid().isEmpty()) {
                    f.put("cpuid", encodeCpuid(v.cpuid()));
                }
                writeFields(out, f);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bos.toByteArray();
    }

    private static void putIf(Map<String, byte[]> m, String k, byte[] v) {
        if (v != null) {
            m.put(k, v);
        }
    }

    private static void writeFields(DataOutputStream out, Map<String, byte[]> fields) throws IOException {
        out.writeInt(fields.size());
        for (var e : fields.entrySet()) {
            byte[] name = e.getKey().getBytes(StandardCharsets.UTF_8);
            out.writeShort(name.length);
            out.write(name);
            out.writeInt(e.getValue().length);
            out.write(e.getValue());
        }
    }

    private static byte[] encodeCpuid(List<CpuidEntry> entries) {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bos)) {
            out.writeInt(entries.size());
            for (CpuidEntry e : entries) {
                for (int x : new int[] {e.function(), e.index(), e.flags(), e.eax(), e.ebx(), e.ecx(), e.edx()}) {
                    out.writeInt(x);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bos.toByteArray();
    }

    private static List<CpuidEntry> decodeCpuid(byte[] b, Path file) {
        if (b == null) {
            return List.of();
        }
        BoundedReader r = new BoundedReader(b, 0, b.length, file, "CPUID list");
        int n = r.count("CPUID entry count", MAX_CPUID);
        List<CpuidEntry> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(new CpuidEntry(r.i32("function"), r.i32("index"), r.i32("flags"), r.i32("eax"), r.i32("ebx"),
                    r.i32("ecx"), r.i32("edx")));
        }
        r.expectEnd();
        return out;
    }

    private static byte[] encodeMsrs(List<MsrEntry> msrs) {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bos)) {
            out.writeInt(msrs.size());
            for (MsrEntry m : msrs) {
                out.writeInt(m.index());
                out.writeLong(m.data());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bos.toByteArray();
    }

    static VmState decode(MachineConfig config, byte[] buf, int off, int len, Path file) {
        BoundedReader r = new BoundedReader(buf, off, len, file, "kvm state section");
        Map<String, byte[]> vm = readFields(r);
        List<byte[]> chips = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            byte[] c = take(vm, "irqchip" + i, KvmStructs.IRQCHIP_SIZE, r);
            if (c != null) {
                if ((c[0] & 0xff) != i || c[1] != 0 || c[2] != 0 || c[3] != 0) {
                    throw r.fail("irqchip" + i + " carries chip id " + (c[0] & 0xff));
                }
                chips.add(c);
            }
        }
        if (!chips.isEmpty() && chips.size() != 3) {
            throw r.fail("irqchip state is incomplete (" + chips.size() + " of 3 chips)");
        }
        byte[] pit = take(vm, "pit2", KvmStructs.PIT_STATE2_SIZE, r);
        byte[] clock = take(vm, "clock", KvmStructs.CLOCK_DATA_SIZE, r);
        rejectUnknown(vm, "VM", r);

        int n = r.count("vCPU count", MachineConfig.MAX_CPUS);
        if (n != config.cpus()) {
            throw r.fail("holds " + n + " vCPUs but the header says " + config.cpus());
        }
        List<VcpuState> vcpus = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int id = r.i32("vCPU id");
            if (id != i) {
                throw r.fail("vCPU " + i + " has id " + id);
            }
            Map<String, byte[]> f = readFields(r);
            String p = "vcpu" + i + ".";
            byte[] regs = require(f, "regs", KvmStructs.REGS_SIZE, p, r);
            byte[] sregs = require(f, "sregs", KvmStructs.SREGS_SIZE, p, r);
            byte[] fpu = require(f, "fpu", KvmStructs.FPU_SIZE, p, r);
            byte[] xsave = take(f, "xsave", KvmStructs.XSAVE_SIZE, r);
            byte[] xcrs = take(f, "xcrs", KvmStructs.XCRS_SIZE, r);
            byte[] msrBytes = f.remove("msrs");
            if (msrBytes == null) {
                throw r.fail(p + "msrs missing");
            }
            List<MsrEntry> msrs = decodeMsrs(msrBytes, file);
            byte[] lapic = take(f, "lapic", KvmStructs.LAPIC_SIZE, r);
            byte[] events = take(f, "events", KvmStructs.VCPU_EVENTS_SIZE, r);
            byte[] mp = require(f, "mpstate", 4, p, r);
            int mpState = ((mp[0] & 0xff) << 24) | ((mp[1] & 0xff) << 16) | ((mp[2] & 0xff) << 8) | (mp[3] & 0xff);
            byte[] debug = take(f, "debugregs", KvmStructs.DEBUGREGS_SIZE, r);
            List<CpuidEntry> cpuid = decodeCpuid(f.remove("cpuid"), file);
            rejectUnknown(f, "vCPU " + i, r);
            vcpus.add(new VcpuState(id, regs, sregs, fpu, xsave, xcrs, msrs, lapic, events, mpState, debug, cpuid));
        }
        r.expectEnd();
        return new VmState(config, vcpus, chips, pit, clock);
    }

    private static Map<String, byte[]> readFields(BoundedReader r) {
        int n = r.count("field count", MAX_FIELDS);
        Map<String, byte[]> m = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            String name = r.string("field name", 32);
            byte[] v = r.blob("field " + name, MAX_FIELD_BYTES);
            if (m.put(name, v) != null) {
                throw r.fail("field " + name + " appears twice");
            }
        }
        return m;
    }

    private static byte[] take(Map<String, byte[]> m, String name, int size, BoundedReader r) {
        byte[] v = m.remove(name);
        if (v != null && v.length != size) {
            throw r.fail(name + " is " + v.length + " bytes, the kernel structure is " + size);
        }
        return v;
    }

    private static byte[] require(Map<String, byte[]> m, String name, int size, String prefix, BoundedReader r) {
        byte[] v = take(m, name, size, r);
        if (v == null) {
            throw r.fail(prefix + name + " missing");
        }
        return v;
    }

    private static void rejectUnknown(Map<String, byte[]> m, String where, BoundedReader r) {
        if (!m.isEmpty()) {
            throw r.fail(where + " has fields this jkvm does not know: " + m.keySet());
        }
    }

    private static List<MsrEntry> decodeMsrs(byte[] b, Path file) {
        BoundedReader r = new BoundedReader(b, 0, b.length, file, "MSR list");
        int n = r.count("MSR count", MAX_MSRS);
        List<MsrEntry> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(new MsrEntry(r.i32("MSR index"), r.i64("MSR value")));
        }
        r.expectEnd();
        return out;
    }
}
