/**
 * Pre-copy live migration over mutually authenticated TLS 1.3.
 *
 * <p>Source: {@link io.jkvm.migration.OutgoingMigration} over a
 * {@link io.jkvm.migration.MigrationSource}; destination:
 * {@link io.jkvm.migration.IncomingMigration} into a {@link io.jkvm.migration.MigrationTarget}.
 * Stream format: {@link io.jkvm.migration.Wire}; parsing of untrusted input:
 * {@link io.jkvm.migration.RecordReader} (sizes) and {@link io.jkvm.migration.IncomingStream}
 * (order, guest addresses). Dirty pages: {@link io.jkvm.migration.DirtyTracker} (KVM's dirty log
 * plus a userspace log of pages the VMM's devices touched). When to stop copying and how to
 * throttle: {@link io.jkvm.migration.Convergence}. The vCPU/VM state travels as the snapshot's
 * "kvm" section ({@link io.jkvm.snapshot.KvmSection}).
 */
package io.jkvm.migration;
