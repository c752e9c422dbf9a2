/**
 * The connection a server call came on, as an object that is the same for every call on it:
 * the HTTP/2 session, which lives exactly as long as its TLS connection. ijrd keeps a caller's
 * identity against it (lib/rpc/services/caller.ts), so that a certificate is read and parsed once per
 * connection instead of once per call: reading it cost Deno 70 µs and parsing it 375 µs per
 * call, against 210 µs for a whole bare unary call (bench/README.md, "The API's speed").
 *
 * grpc-js has no public way from a call to its session; it holds the session at
 * `call.call.stream.session` (ServerUnaryCallImpl -> BaseServerInterceptingCall ->
 * ServerHttp2Stream) when the server has no interceptors, as ijrd's has none. Where the
 * shape differs (another grpc-js version) this returns undefined and every call reads its
 * certificate again: slower, never wrong. tests/unit/rpc_connection_test.ts fails when the
 * pinned grpc-js no longer has the shape.
 * @module
 */

/** The HTTP/2 session of a grpc-js server call, or undefined when it cannot be found. */
export function connectionOf(call: unknown): object | undefined {
  const inner = (call as { call?: { stream?: { session?: unknown } } })?.call;
  const session = inner?.stream?.session;
  return typeof session === "object" && session !== null ? session : undefined;
}
