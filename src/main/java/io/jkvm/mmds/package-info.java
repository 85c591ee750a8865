/**
 * The microVM metadata service (MMDS), Firecracker's: a JSON document the host sets through the
 * API ({@code PUT}/{@code PATCH}/{@code GET /mmds}, {@link io.jkvm.mmds.MmdsStore}) and the guest
 * reads over HTTP at a link-local address on the network interfaces {@code PUT /mmds/config}
 * names. The guest side is a small, bounded network stack inside the VMM
 * ({@link io.jkvm.mmds.MmdsStack}): frames for the MMDS address never reach the TAP.
 */
package io.jkvm.mmds;
