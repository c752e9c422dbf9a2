/**
 * Opens typed clients to ijrd from the config file and flags, and turns failures into the
 * one-line messages ijrctl prints.
 * @module
 */

import { JobService } from "../gen/ijr/v1/job_pb.ts";
import { RootfsService } from "../gen/ijr/v1/rootfs_pb.ts";
import {
  type ClientConfig,
  type ConfigOverrides,
  loadClientConfig,
  readTlsFiles,
} from "../config/mod.ts";
import {
  clientCredentials,
  createClient,
  RpcError,
  type ServiceClient,
} from "../rpc/transport/mod.ts";

/** Clients for both services over one set of credentials. */
export interface Connection {
  readonly server: string;
  readonly jobs: ServiceClient<typeof JobService.method>;
  readonly rootfs: ServiceClient<typeof RootfsService.method>;
  close(): void;
}

/**
 * After a refused or dropped connection grpc-js waits before it dials again, 1 s growing to
 * 2 minutes by default, and fails every call meanwhile. An attached ijrctl retries on its own
 * schedule (lib/ctl/reconnect.ts), so the channel must dial as soon as asked: a restarted ijrd
 * is then found within a second of listening.
 */
const CHANNEL_OPTIONS = {
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1_000,
  // channelz (grpc-js's live call statistics for its admin service, which nothing here
  // reads) keeps counters and traces for every call: without it a warm unary call took
  // 0.85-0.93x the time (bench/README.md, "One call to start and wait").
  "grpc.enable_channelz": 0,
};

/**
 * How often a connection with a call open (a wait, a followed output, a RunJob: they can last
 * as long as a job) pings ijrd, and how long an answer may take before the connection counts
 * as dead. Without pings a worker that vanished without closing its connections (powered off,
 * cut off, frozen) would hold such a call forever; with them it ends UNAVAILABLE within about
 * a minute and a half, and an attached ijrctl reconnects. ijrd answers pings at any rate.
 */
export const KEEPALIVE = { timeMs: 60_000, timeoutMs: 20_000 } as const;

/** Connection settings beyond the config file's (tests shorten the keepalive). */
export interface ConnectOptions {
  readonly keepalive?: { readonly timeMs: number; readonly timeoutMs: number };
}

/** Connects with the config file, overridden by flags. Throws a message for the user. */
export function connect(overrides: ConfigOverrides, options: ConnectOptions = {}): Connection {
  return connectTo(loadClientConfig(overrides), options);
}

/** Connects to the worker `config` names. Throws a message for the user. */
export function connectTo(config: ClientConfig, options: ConnectOptions = {}): Connection {
  const credentials = clientCredentials(readTlsFiles(config));
  const keepalive = options.keepalive ?? KEEPALIVE;
  const channelOptions = {
    ...CHANNEL_OPTIONS,
    "grpc.keepalive_time_ms": keepalive.timeMs,
    "grpc.keepalive_timeout_ms": keepalive.timeoutMs,
  };
  // Both clients share grpc-js's channel pool (same target, credentials object and options).
  const jobs = createClient(JobService, config.server, credentials, channelOptions);
  const rootfs = createClient(RootfsService, config.server, credentials, channelOptions);
  return {
    server: config.server,
    jobs,
    rootfs,
    close() {
      jobs.close();
      rootfs.close();
    },
  };
}

/**
 * A status message as people should read it: grpc-js ends the message of a refused connection
 * with an empty "Resolution note: ", which says nothing.
 */
export function rpcMessage(error: RpcError): string {
  return error.message.replace(/\. Resolution note: $/, "");
}

/** The one line ijrctl prints for a failure. */
export function describeFailure(error: unknown, server?: string): string {
  if (error instanceof RpcError) {
    if (error.codeName === "UNAVAILABLE" && server) {
      return `cannot reach ijrd at ${server}: ${rpcMessage(error)}`;
    }
    if (error.codeName === "UNAUTHENTICATED") return `not authenticated: ${rpcMessage(error)}`;
    return rpcMessage(error);
  }
  return (error as Error).message ?? String(error);
}

/**
 * Runs a command body with a connection: prints failures as one line on stderr and returns
 * exit code 1 for them, so every command reports errors the same way.
 */
export async function withConnection(
  name: string,
  overrides: ConfigOverrides,
  body: (connection: Connection) => Promise<number>,
): Promise<number> {
  let connection: Connection;
  try {
    connection = connect(overrides);
  } catch (error) {
    console.error(`ijrctl ${name}: ${describeFailure(error)}`);
    return 1;
  }
  try {
    return await body(connection);
  } catch (error) {
    console.error(`ijrctl ${name}: ${describeFailure(error, connection.server)}`);
    return 1;
  } finally {
    connection.close();
  }
}
