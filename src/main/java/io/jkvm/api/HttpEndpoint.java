package io.jkvm.api;

/** What a {@link UdsHttpServer} serves: one call per request, on a server thread. Must not throw. */
@FunctionalInterface
public interface HttpEndpoint {
    HttpReply handle(String method, String path, String query, byte[] body);
}
