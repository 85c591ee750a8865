package io.jkvm.migration;

import io.jkvm.memory.GuestMemory;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.MachineConfig;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;

/**
 * The destination's view of the stream: enforces record order (CONFIG; then PAGES, ZERO_PAGES and
 * ROUND; then one KVM_STATE; then DEVICEs; then DONE) and writes pages into guest RAM only after
 * checking each gpa is page-aligned and inside the RAM the accepted configuration created. KVM
 * and device state are only collected here; applying them is {@link IncomingMigration}'s job.
 */
final class IncomingStream {
    private enum Phase { CONFIG, MEMORY, DEVICES, DONE }

    private final Function<MachineConfig, GuestMemory> onConfig;
    private Phase phase = Phase.CONFIG;
    private MachineConfig config;
    private GuestMemory memory;
    private byte[] kvmState;
    private final List<DeviceState> devices = new ArrayList<>();
    private final Set<String> deviceNames = new HashSet<>();
    private long pages;
    private int rounds;

    /** {@code onConfig} creates the destination for a configuration (or throws, refusing it) and returns its RAM. */
    IncomingStream(Function<MachineConfig, GuestMemory> onConfig) {
        this.onConfig = onConfig;
    }

    /** Takes the next record; returns true once DONE has been accepted. */
    boolean accept(MigrationRecord r) {
        if (phase == Phase.DONE) {
            throw new MigrationException(name(r) + " record after DONE");
        }
        switch (r) {
            case MigrationRecord.Config c -> {
                expect(r, Phase.CONFIG);
                config = c.config();
                memory = onConfig.apply(config);
                if (memory.size() != config.memoryBytes()) {
                    throw new MigrationException("destination created " + memory.size() + " bytes of RAM for "
                            + config.memoryBytes());
                }
                phase = Phase.MEMORY;
            }
            case MigrationRecord.Pages p -> {
                expect(r, Phase.MEMORY);
                for (int i = 0; i < p.gpas().length; i++) {
                    checkGpa("PAGES", p.gpas()[i]);
                }
                for (int i = 0; i < p.gpas().length; i++) {
                    memory.write(p.gpas()[i], p.data(), i * Wire.PAGE, Wire.PAGE);
                }
                pages += p.gpas().length;
            }
            case MigrationRecord.ZeroPages z -> {
                expect(r, Phase.MEMORY);
                for (long gpa : z.gpas()) {
                    checkGpa("ZERO_PAGES", gpa);
                }
                for (long gpa : z.gpas()) {
                    memory.fill(gpa, Wire.PAGE, (byte) 0);
                }
                pages += z.gpas().length;
            }
            case MigrationRecord.Round round -> {
                expect(r, Phase.MEMORY);
                if (round.round() != rounds) {
                    throw new MigrationException("ROUND record: round " + round.round() + ", expected " + rounds);
                }
                rounds++;
            }
            case MigrationRecord.KvmState k -> {
                expect(r, Phase.MEMORY);
                kvmState = k.bytes();
                phase = Phase.DEVICES;
            }
            case MigrationRecord.Device d -> {
                expect(r, Phase.DEVICES);
                if (!deviceNames.add(d.state().name())) {
                    throw new MigrationException("DEVICE record: device " + d.state().name() + " sent twice");
                }
                if (devices.size() >= 256) {
                    throw new MigrationException("DEVICE record: more than 256 devices");
                }
                devices.add(d.state());
            }
            case MigrationRecord.Done d -> {
                expect(r, Phase.DEVICES);
                phase = Phase.DONE;
                return true;
            }
            case MigrationRecord.Abort a -> throw new MigrationException("the source aborted the migration: " + a.reason());
            default -> throw new MigrationException(name(r) + " record is a reply; the source may not send it");
        }
        return false;
    }

    private void expect(MigrationRecord r, Phase want) {
        if (phase != want) {
            throw new MigrationException(name(r) + " record out of order: expected " + switch (phase) {
                case CONFIG -> "CONFIG first";
                case MEMORY -> "PAGES, ZERO_PAGES, ROUND or KVM_STATE";
                case DEVICES -> "DEVICE or DONE after KVM_STATE";
                case DONE -> "nothing after DONE";
            });
        }
    }

    private void checkGpa(String record, long gpa) {
        if ((gpa & (Wire.PAGE - 1)) != 0) {
            throw new MigrationException(String.format("%s record: gpa 0x%x is not page-aligned", record, gpa));
        }
        if (!memory.isValid(gpa, Wire.PAGE)) {
            throw new MigrationException(String.format("%s record: gpa 0x%x is outside guest RAM", record, gpa));
        }
    }

    private static String name(MigrationRecord r) {
        return r.getClass().getSimpleName().replaceAll("([a-z])([A-Z])", "$1_$2").toUpperCase(java.util.Locale.ROOT);
    }

    MachineConfig config() {
        return config;
    }

    byte[] kvmState() {
        return kvmState;
    }

    List<DeviceState> devices() {
        return List.copyOf(devices);
    }

    long pages() {
        return pages;
    }

    int rounds() {
        return rounds;
    }
}
