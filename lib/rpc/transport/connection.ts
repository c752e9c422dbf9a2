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
 * shape differs (another grpc-js version) this returns undefined, and since ijrd's listener
 * (listener.ts) ends TLS itself, grpc-js knows no certificate either: every call is then
 * UNAUTHENTICATED, never another connection's caller. tests/unit/rpc_connection_test.ts fails
 * when the pinned grpc-js no longer has the shape.
 * @module
 */

/** The HTTP/2 session of a grpc-js server call, or undefined when it cannot be found. */
export function connectionOf(call: unknown): object | undefined {
  const inner = (call as { call?: { stream?: { session?: unknown } } })?.call;
  const session = inner?.stream?.session;
  return typeof session === "object" && session !== null ? session : undefined;
}

/** Sockets corked until the end of the current turn of the event loop. */
const corkedThisTurn = new WeakSet<object>();

/**
 * Holds what is written on `connection` (a session from `connectionOf`) until the end of this
 * turn of the event loop, so that the frames a call's answer makes now (its message, its
 * trailers) leave in one TLS record and one write(2), not one each: every record is a system
 * call here and a wake-up of the client there (bench/README.md, "One write for an answer").
 * Other calls' writes in the same turn join them; nothing waits past the turn. Where the
 * session has no socket that corks (another grpc-js or Deno), nothing changes.
 */
export function corkForThisTurn(connection: object | undefined): void {
  const socket = (connection as { socket?: { cork?: unknown; uncork?: unknown } } | undefined)
    ?.socket;
  if (
    typeof socket !== "object" || socket === null || typeof socket.cork !== "function" ||
    typeof socket.uncork !== "function" || corkedThisTurn.has(socket)
  ) {
    return;
  }
  const writable = socket as { cork(): void; uncork(): void };
  writable.cork();
  corkedThisTurn.add(socket);
  setImmediate(() => {
    corkedThisTurn.delete(socket);
    writable.uncork();
  });
}

/**
 * The client's certificate as the connection under `connection` (a session from
 * `connectionOf`) holds it: a FilteredConnection (goaway_filter.ts) exposes its TLS socket's.
 * Undefined for anything else, or a certificate without its bytes.
 */
export function peerCertificateOf(connection: object | undefined): { raw: Uint8Array } | undefined {
  const socket = (connection as { socket?: { peerCertificate?: { raw?: Uint8Array } } } | undefined)
    ?.socket;
  const certificate = socket?.peerCertificate;
  return certificate?.raw ? { raw: certificate.raw } : undefined;
}
