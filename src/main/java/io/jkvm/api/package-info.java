/**
 * The per-VM API (Firecracker-compatible, HTTP/1.1 on a Unix socket) and the VM lifecycle behind it.
 *
 * <p>A request travels one path. {@link io.jkvm.api.UdsHttpServer} (Jetty, bounded and
 * deadline-checked, {@link io.jkvm.api.ConnectionGuard}) hands method, path and body to
 * {@link io.jkvm.api.ApiRouter}; {@link io.jkvm.api.ActionParser} makes them one
 * {@link io.jkvm.api.VmmAction} (a sealed hierarchy of records: configuration, lifecycle, reads),
 * parsing bodies with the strict {@link io.jkvm.api.Json}; {@link io.jkvm.api.VmmController}
 * gives the action to the handler for the VM's phase, {@link io.jkvm.api.PreBootHandler} or
 * {@link io.jkvm.api.RuntimeHandler}, whose exhaustive switches are the rules of what each phase
 * takes. Every refusal is an {@link io.jkvm.api.ApiException} (kind, field, message), rendered
 * once by the router as {@code {"fault_message": ...}} with the kind's status.
 *
 * <p>A new endpoint is: a record in {@code VmmAction}, its route in {@code ActionParser} (and the
 * inverse in {@link io.jkvm.api.ActionRequest}), and a case in each handler; the compiler finds
 * the switches that miss it.
 *
 * <p>Pre-boot configuration lives in {@link io.jkvm.api.VmConfiguration} (each section checked
 * as it arrives: {@link io.jkvm.api.BootValidation} for host limits and the shared
 * {@code VmConfigValidator}, {@link io.jkvm.api.HostPaths} for files, {@link io.jkvm.api.Fields}
 * for ids and enumerations). {@link io.jkvm.api.ConfigFile} turns a {@code --config-file} document
 * into the same configuration actions, which {@code jkvm run}, the daemon's VMMs and the daemon's
 * validation all apply. Snapshots: {@link io.jkvm.api.SnapshotRequests}; live migration:
 * {@link io.jkvm.api.MigrationControl} (outgoing), {@link io.jkvm.api.IncomingConfiguration}
 * (matching this VMM's devices to the source's); metrics: {@link io.jkvm.api.MetricsLine}. The
 * guest itself is behind {@link io.jkvm.api.GuestLauncher} and {@link io.jkvm.api.RunningGuest},
 * so all of the above runs in unit tests without KVM.
 */
package io.jkvm.api;
