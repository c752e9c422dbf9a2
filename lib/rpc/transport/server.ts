/**
 * ijrd's gRPC server: methods by path, served on HTTP/2 connections of IJR's own
 * (lib/rpc/h2/server_connection.ts) over sockets whose TLS the listener (listener.ts) has ended.
 * Each request's stream is checked as gRPC's (POST, content-type application/grpc, no
 * compression, a well-formed grpc-timeout) and routed to its method's handler as a GrpcCall
 * (grpc_call.ts); the handler's place among the connection's concurrent streams is freed only
 * when it has returned.
 * @module
 */

import {
  type ByteSocket,
  type HeaderField,
  type IncomingEvents,
  type Keepalive,
  ServerConnection,
  type ServerStream,
} from "../h2/mod.ts";
import { Code, parseGrpcTimeout, RpcError, type StatusObject, toStatus } from "../wire/mod.ts";
import { type ConnectionInfo, GrpcCall, statusBlock } from "./grpc_call.ts";
import { RequestBudget } from "./request_budget.ts";

/** Runs one call to its end; the promise settles when the handler is done with it. */
export type CallHandler = (call: GrpcCall) => Promise<void>;

/** Server settings. */
export interface RpcServerOptions {
  /** Pings on a quiet connection; a client that does not answer in time is dropped. */
  readonly keepalive?: Keepalive;
  /** The most calls one connection may have running at once (their handlers not returned). */
  readonly maxConcurrentStreams?: number;
  /** What one connection's calls may hold of requests not yet read (request_budget.ts). */
  readonly requestBudgetBytes?: number;
  /** How long an ended answer may wait for the client's window. */
  readonly endWaitMs?: number;
}

/**
 * Detect dead clients, of long output streams above all, as ijrd's grpc-js server did: a ping
 * after a minute of quiet, 20 s to answer it.
 */
const DEFAULT_KEEPALIVE: Keepalive = { timeMs: 60_000, timeoutMs: 20_000 };
/**
 * Calls one connection may run at once. A user's output watches have their own cap
 * (lib/rpc/services/watch_limit.ts); this bounds what any one connection makes ijrd hold.
 */
export const DEFAULT_MAX_CONCURRENT_STREAMS = 100;

/**
 * A client's value as a refusal repeats it: at most 128 characters, so that a request of a few
 * bytes (its headers indexed by HPACK) cannot draw kilobytes of answer.
 */
function shown(value: string): string {
  return value.length <= 128 ? value : `${value.slice(0, 128)}...`;
}

/** Events for a stream answered at once: nothing it sends matters. */
const IGNORED: IncomingEvents = { data() {}, aborted() {} };

/** gRPC's methods served over IJR's HTTP/2. */
export class RpcServer {
  readonly #methods = new Map<string, CallHandler>();
  readonly #connections = new Set<ServerConnection>();
  readonly #keepalive: Keepalive;
  readonly #maxConcurrentStreams: number;
  readonly #options: RpcServerOptions;
  #draining = false;

  constructor(options: RpcServerOptions = {}) {
    this.#keepalive = options.keepalive ?? DEFAULT_KEEPALIVE;
    this.#maxConcurrentStreams = options.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS;
    this.#options = options;
  }

  /** Serves `handler` at `path` ("/package.Service/Method"). */
  addMethod(path: string, handler: CallHandler): void {
    if (this.#methods.has(path)) throw new Error(`${path} is served twice`);
    this.#methods.set(path, handler);
  }

  /** Connections open now. */
  get connections(): number {
    return this.#connections.size;
  }

  /**
   * Serves gRPC on `socket`, whose TLS (with ALPN "h2") is done; `info` is what calls on it
   * know of it.
   */
  serve(socket: ByteSocket, info: ConnectionInfo): void {
    const budget = new RequestBudget(this.#options.requestBudgetBytes);
    const connection = new ServerConnection(socket, {
      maxConcurrentStreams: this.#maxConcurrentStreams,
      keepalive: this.#keepalive,
      endWaitMs: this.#options.endWaitMs,
      onStream: (stream, problem) => this.#route(stream, problem, info, budget),
    });
    this.#connections.add(connection);
    connection.onClose(() => this.#connections.delete(connection));
    if (this.#draining) connection.drain();
  }

  /**
   * Takes no new calls: every connection is told (GOAWAY) and closes when its calls have been
   * answered; connections that come later are told at once.
   */
  drain(): void {
    this.#draining = true;
    for (const connection of this.#connections) connection.drain();
  }

  /** Ends every connection now: calls still running are cancelled. */
  close(): void {
    this.#draining = true;
    for (const connection of [...this.#connections]) connection.close();
  }

  #route(
    stream: ServerStream,
    problem: string | undefined,
    info: ConnectionInfo,
    budget: RequestBudget,
  ): IncomingEvents {
    if (problem !== undefined) {
      return this.#refuse(stream, { code: Code.RESOURCE_EXHAUSTED, details: problem });
    }
    let method, path: string | undefined, contentType, encoding, timeout;
    for (const [name, value] of stream.headers) {
      switch (name) {
        case ":method":
          method = value;
          break;
        case ":path":
          path = value;
          break;
        case "content-type":
          contentType = value;
          break;
        case "grpc-encoding":
          encoding = value;
          break;
        case "grpc-timeout":
          timeout = value;
          break;
      }
    }
    // Not gRPC: answered as HTTP says, as gRPC's spec asks.
    if (method !== "POST") return this.#refuseHttp(stream, "405");
    if (contentType === undefined || !/^application\/grpc([+;]|$)/.test(contentType)) {
      return this.#refuseHttp(stream, "415");
    }
    const handler = path === undefined ? undefined : this.#methods.get(path);
    if (handler === undefined) {
      return this.#refuse(stream, {
        code: Code.UNIMPLEMENTED,
        details: `The server does not implement the method ${shown(path ?? "(no :path)")}`,
      });
    }
    if (encoding !== undefined && encoding !== "identity") {
      return this.#refuse(stream, {
        code: Code.UNIMPLEMENTED,
        details: `grpc-encoding "${shown(encoding)}" is not supported; send messages uncompressed`,
      });
    }
    let timeoutMs: number | undefined;
    if (timeout !== undefined) {
      timeoutMs = parseGrpcTimeout(timeout);
      if (timeoutMs === undefined) {
        return this.#refuse(stream, {
          code: Code.INVALID_ARGUMENT,
          details: `grpc-timeout "${
            shown(timeout)
          }" is not 1 to 8 digits and a unit (H, M, S, m, u, n)`,
        });
      }
    }
    const call = new GrpcCall(stream, path!, info, timeoutMs, budget);
    handler(call).catch((error) => {
      // The adapter ends every call itself; what else escapes is the call layer's refusal (an
      // RpcError) or a bug, logged, of which the client is told INTERNAL only.
      if (!(error instanceof RpcError)) {
        console.error(`ijr: ${path}: ${(error as Error)?.stack ?? error}`);
      }
      call.finish(toStatus(error));
    }).finally(() => stream.release());
    return call;
  }

  /** Answers a stream with a status alone ("trailers-only") and frees its place. */
  #refuse(stream: ServerStream, status: StatusObject): IncomingEvents {
    stream.respond(statusBlock(status, true), true);
    stream.release();
    return IGNORED;
  }

  /** Answers a request that is not gRPC with an HTTP status alone. */
  #refuseHttp(stream: ServerStream, status: string): IncomingEvents {
    const fields: HeaderField[] = [[":status", status]];
    stream.respond(fields, true);
    stream.release();
    return IGNORED;
  }
}
