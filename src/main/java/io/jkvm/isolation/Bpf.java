package io.jkvm.isolation;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

/**
 * A classic BPF program, as seccomp takes it: {@code struct sock_filter {__u16 code; __u8 jt;
 * __u8 jf; __u32 k;}} instructions ({@code linux/filter.h}, opcodes from
 * {@code linux/bpf_common.h}). Conditional jumps go forward only and by at most 255
 * instructions (jt and jf are bytes); the builder takes labels and resolves them, refusing a
 * program that breaks either rule rather than emitting a wrong jump.
 */
public final class Bpf {
    // Instruction classes and fields (linux/bpf_common.h).
    public static final int LD = 0x00;
    public static final int ALU = 0x04;
    public static final int JMP = 0x05;
    public static final int RET = 0x06;
    public static final int W = 0x00;
    public static final int ABS = 0x20;
    public static final int K = 0x00;
    public static final int JEQ = 0x10;
    public static final int JGE = 0x30;
    public static final int JSET = 0x40;
    public static final int AND = 0x50;
    public static final int RSH = 0x70;

    /** One instruction. */
    public record Insn(int code, int jt, int jf, int k) {}

    private final List<Insn> insns = new ArrayList<>();
    /** Per instruction with symbolic targets: its true and false labels (null: fall through). */
    private final List<String[]> targets = new ArrayList<>();
    private final Map<String, Integer> labels = new HashMap<>();

    /** {@code A = *(u32 *)(data + offset)}: a word of struct seccomp_data. */
    public Bpf loadWord(int offset) {
        return add(LD | W | ABS, offset, null, null);
    }

    /** {@code A >>= k} (logical). */
    public Bpf rsh(int k) {
        return add(ALU | RSH | K, k, null, null);
    }

    /** {@code A &= k}. */
    public Bpf and(int k) {
        return add(ALU | AND | K, k, null, null);
    }

    /** Jump to {@code ifTrue} when {@code A == k}, else to {@code ifFalse} (null: next instruction). */
    public Bpf jeq(int k, String ifTrue, String ifFalse) {
        return add(JMP | JEQ | K, k, ifTrue, ifFalse);
    }

    /** Jump to {@code ifTrue} when {@code A >= k} (unsigned), else to {@code ifFalse}. */
    public Bpf jge(int k, String ifTrue, String ifFalse) {
        return add(JMP | JGE | K, k, ifTrue, ifFalse);
    }

    /** Jump to {@code ifTrue} when {@code A & k != 0}, else to {@code ifFalse}. */
    public Bpf jset(int k, String ifTrue, String ifFalse) {
        return add(JMP | JSET | K, k, ifTrue, ifFalse);
    }

    /** Return {@code k} (a SECCOMP_RET_* action). */
    public Bpf ret(int k) {
        return add(RET | K, k, null, null);
    }

    /** Names the next instruction. */
    public Bpf label(String name) {
        if (labels.putIfAbsent(name, insns.size()) != null) {
            throw new IllegalArgumentException("BPF label " + name + " defined twice");
        }
        return this;
    }

    private Bpf add(int code, int k, String t, String f) {
        insns.add(new Insn(code, 0, 0, k));
        targets.add(new String[] {t, f});
        return this;
    }

    /** The instructions with jumps resolved. */
    public List<Insn> build() {
        List<Insn> out = new ArrayList<>(insns.size());
        for (int i = 0; i < insns.size(); i++) {
            Insn in = insns.get(i);
            String[] t = targets.get(i);
            out.add(new Insn(in.code(), offset(i, t[0]), offset(i, t[1]), in.k()));
        }
        if (out.isEmpty() || (out.getLast().code() & 0x07) != RET) {
            throw new IllegalStateException("a BPF program must end with a return");
        }
        return List.copyOf(out);
    }

    private int offset(int from, String label) {
        if (label == null) {
            return 0;
        }
        Integer to = labels.get(label);
        if (to == null) {
            throw new IllegalStateException("BPF label " + label + " is not defined");
        }
        int off = to - from - 1;
        if (off < 0 || off > 255) {
            throw new IllegalStateException("BPF jump to " + label + " is " + off + " instructions: must be 0 to 255");
        }
        return off;
    }

    /**
     * {@code struct sock_fprog {unsigned short len; struct sock_filter *filter;}} in {@code arena},
     * pointing at the instructions (8 bytes each) in the same arena.
     */
    public static MemorySegment fprog(Arena arena, List<Insn> program) {
        MemorySegment filter = arena.allocate(8L * program.size(), 8);
        for (int i = 0; i < program.size(); i++) {
            Insn in = program.get(i);
            long at = 8L * i;
            filter.set(JAVA_SHORT_UNALIGNED, at, (short) in.code());
            filter.set(JAVA_BYTE, at + 2, (byte) in.jt());
            filter.set(JAVA_BYTE, at + 3, (byte) in.jf());
            filter.set(JAVA_INT_UNALIGNED, at + 4, in.k());
        }
        MemorySegment prog = arena.allocate(16, 8); // u16 len, 6 bytes padding, pointer at offset 8
        prog.set(JAVA_SHORT_UNALIGNED, 0, (short) program.size());
        prog.set(JAVA_LONG_UNALIGNED, 8, filter.address());
        return prog;
    }
}
