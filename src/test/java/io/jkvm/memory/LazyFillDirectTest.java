package io.jkvm.memory;

import io.jkvm.device.BusDevice;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.Patience;
import io.jkvm.testing.TestGuest;
import io.jkvm.vmm.Machine;
import io.jkvm.vmm.MachineExit;
import io.jkvm.vmm.StopReason;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Guest RAM filled on first touch while a guest runs on KVM: the guest's own accesses (which
 * KVM makes on its behalf, not this process's code) are served by the fill, and a chunk the
 * source refuses stops the machine with the reason instead of feeding the guest zeros.
 */
@Tag("kvm")
@org.junit.jupiter.api.Timeout(value = 3, unit = java.util.concurrent.TimeUnit.MINUTES)
class LazyFillDirectTest {
    static final int CHUNK = 1 << 20;
    static final long RAM = 2L * CHUNK;
    /** In chunk 1, which nothing but the guest touches. */
    static final long WORD = CHUNK + 0x80000;
    static final long VALUE = 0xc0ffeeL;
    static final Duration WAIT = Patience.seconds(60);

    /** Reads the word in chunk 1, reports it on port 0x538, halts. */
    static final byte[] CODE = TestGuest.assemble("""
            .code32
                movl 0x180000, %eax
                movw $0x538, %dx
                outl %eax, %dx
                hlt
            """, 0x1000);

    @BeforeEach
    void kvm() {
        KvmAvailable.assume();
    }

    static void source(int index, MemorySegment into) {
        into.fill((byte) 0);
        if (index == 1) {
            into.set(ValueLayout.JAVA_LONG, WORD - CHUNK, VALUE);
        }
    }

    @Test
    void theGuestReadsWhatTheSourceGaveForTheChunkItTouched() throws Exception {
        AtomicReference<LazyFill> fill = new AtomicReference<>();
        AtomicLong reported = new AtomicLong(-1);
        try (Machine m = Machine.create(new Machine.Options(1, RAM, false, RamBacking.PAGES), o -> {
            GuestRam ram = GuestRam.allocate(o.memoryBytes(), RamBacking.PAGES);
            fill.set(ram.fillLazily(CHUNK, LazyFillDirectTest::source, false, e -> { }));
            return ram;
        })) {
            m.pio().register(0x538, 4, port(reported));
            TestGuest.startProtectedMode(m.vcpus().getFirst(), m.memory(), CODE, 0x1000); // fills chunk 0
            m.start();
            MachineExit exit = m.awaitExit(WAIT);
            assertThat(exit).as("the guest halted").isNotNull();
            assertThat(reported.get()).as("the word the guest read in chunk 1").isEqualTo(VALUE);
            assertThat(fill.get().faultFills()).as("chunks 0 (code) and 1 (the guest's read)").isEqualTo(2);
            assertThat(fill.get().prefetchFills()).isZero();
            assertThat(fill.get().failure()).isNull();
        }
    }

    @Test
    void aRefusedChunkStopsTheMachineWithTheReason() throws Exception {
        AtomicReference<Machine> machine = new AtomicReference<>();
        AtomicLong reported = new AtomicLong(-1);
        Machine m = Machine.create(new Machine.Options(1, RAM, false, RamBacking.PAGES), o -> {
            GuestRam ram = GuestRam.allocate(o.memoryBytes(), RamBacking.PAGES);
            ram.fillLazily(CHUNK, (index, into) -> {
                if (index == 1) {
                    throw new IllegalStateException("chunk 1 does not match its MAC");
                }
                source(index, into);
            }, false, e -> machine.get().requestStop(StopReason.ERROR, e.getMessage()));
            return ram;
        });
        machine.set(m);
        try (m) {
            m.pio().register(0x538, 4, port(reported));
            TestGuest.startProtectedMode(m.vcpus().getFirst(), m.memory(), CODE, 0x1000);
            m.start();
            MachineExit exit = m.awaitExit(WAIT);
            assertThat(exit).as("the machine stopped").isNotNull();
            assertThat(exit.reason()).isEqualTo(StopReason.ERROR);
            assertThat(exit.detail()).contains("chunk 1 does not match its MAC");
            assertThat(reported.get()).as("the guest never saw a value for the refused word").isEqualTo(-1);
        }
    }

    static BusDevice port(AtomicLong reported) {
        return new BusDevice() {
            @Override
            public long read(long offset, int size) {
                return 0;
            }

            @Override
            public void write(long offset, int size, long value) {
                reported.set(value);
            }
        };
    }
}
