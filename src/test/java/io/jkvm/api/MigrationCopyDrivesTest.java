package io.jkvm.api;

import io.jkvm.migration.MigrationSource;
import io.jkvm.migration.VmShape;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.vmm.Machine;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@code copy_drives} of PUT /migrate: every id checked against the running VM's drives, a bad one a 400 naming the field. */
class MigrationCopyDrivesTest {
    /** A VM with a writable "rootfs" and a read-only "base", as its shape announces them. */
    private static final MigrationSource SOURCE = new MigrationSource() {
        public Machine machine() {
            throw new UnsupportedOperationException("not started in this test");
        }

        public void pause() {
        }

        public void resume() {
        }

        public List<DeviceState> deviceStates() {
            return List.of();
        }

        public void migratedAway() {
        }

        @Override
        public VmShape shape() {
            return new VmShape(List.of(new VmShape.Disk("rootfs", false, 1 << 20), new VmShape.Disk("base", true, 1 << 20)),
                    List.of(), false, false);
        }
    };

    private static void refused(String message, String... ids) {
        MigrationControl control = new MigrationControl(null);
        MigrateRequest r = new MigrateRequest("tcp:127.0.0.1:4444", null, null, null, null, Arrays.asList(ids));
        assertThatThrownBy(() -> control.start(SOURCE, r, EventLog.toStderr("test")))
                .isInstanceOfSatisfying(ApiException.class, e -> org.assertj.core.api.Assertions.assertThat(e.field())
                        .isEqualTo("copy_drives"))
                .hasMessage(message);
    }

    @Test
    void unknownReadOnlyRepeatedOrEmptyDrivesAreRefusedNamingTheField() {
        refused("copy_drives: this VM has no drive 'data'", "rootfs", "data");
        refused("copy_drives: drive 'base' is read-only: only writable drives are copied (a read-only one must be at the"
                + " destination already)", "base");
        refused("copy_drives: drive 'rootfs' is listed twice", "rootfs", "rootfs");
        refused("copy_drives: a drive id is empty", "");
        refused("copy_drives: a drive id is empty", (String) null);
    }

    @Test
    void aValidListGoesOnToTheOtherChecks() {
        MigrationControl control = new MigrationControl(null);
        MigrateRequest r = new MigrateRequest("tcp:127.0.0.1:4444", null, null, null, null, List.of("rootfs"));
        assertThatThrownBy(() -> control.start(SOURCE, r, EventLog.toStderr("test")))
                .hasMessageContaining("tls_cert, tls_key and tls_ca are required");
    }
}
