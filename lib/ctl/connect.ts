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

/** Connects with the config file, overridden by flags. Throws a message for the user. */
export function connect(overrides: ConfigOverrides): Connection {
  return connectTo(loadClientConfig(overrides));
}

/** Connects to the worker `config` names. Throws a message for the user. */
export function connectTo(config: ClientConfig): Connection {
  const credentials = clientCredentials(readTlsFiles(config));
  // Both clients share grpc-js's channel pool (same target, credentials object and options).
  const jobs = createClient(JobService, config.server, credentials, CHANNEL_OPTIONS);
  const rootfs = createClient(RootfsService, config.server, credentials, CHANNEL_OPTIONS);
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
