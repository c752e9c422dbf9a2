/**
 * ijrd's life: open the rootfs store and the job engine, serve both gRPC services over
 * mutual TLS, and on SIGTERM or SIGINT stop accepting, end output streams (UNAVAILABLE), stop
 * the jobs or, with live restore, leave them running for the next ijrd, and exit 0. A port
 * that cannot be bound is a start-up error (exit code 2).
 * @module
 */

import { JobService } from "../gen/ijr/v1/job_pb.ts";
import { RootfsService } from "../gen/ijr/v1/rootfs_pb.ts";
import { addService, listenMutualTls, RpcServer } from "../rpc/transport/mod.ts";
import {
  type JobBackend,
  jobServiceHandlers,
  requestLog,
  type RequestLogger,
  type RootfsBackend,
  rootfsServiceHandlers,
  stderrLogger,
  WatchLimit,
} from "../rpc/services/mod.ts";
import { type DaemonSettings, PreflightError } from "./preflight.ts";

/** The job engine as the daemon runs it: the service's backend plus an orderly shutdown. */
export interface DaemonJobs extends JobBackend {
  /**
   * Stops every running job (SIGTERM, grace, kill) and records it, or with live restore
   * leaves them running; then releases resources.
   */
  shutdown(options: { graceMs: number }): Promise<void>;
  /** Jobs running. */
  readonly running: number;
}

/** What `serve` runs on. */
export interface DaemonParts {
  readonly settings: DaemonSettings;
  readonly rootfs: RootfsBackend;
  readonly jobs: DaemonJobs;
  readonly log?: RequestLogger;
  /** Resolves when the daemon should shut down; default: SIGTERM or SIGINT. */
  readonly stopRequested?: Promise<string>;
}

/** Logs a daemon event as one JSON line on stderr, like the request log. */
export function logEvent(msg: string, fields: Record<string, unknown> = {}): void {
  console.error(JSON.stringify({ time: new Date().toISOString(), msg, ...fields }));
}

/** ijrd's listener, or the start-up error that says why it cannot listen. */
async function listen(server: RpcServer, settings: DaemonSettings, address: string) {
  try {
    return await listenMutualTls(
      server,
      { host: settings.listen, port: settings.port },
      settings.tls,
    );
  } catch (error) {
    const { code, message } = error as Error & { code?: string };
    const reason = code === "EADDRINUSE" || /address already in use/i.test(message)
      ? "the address is already in use"
      : message;
    throw new PreflightError(`cannot listen on ${address}: ${reason}`);
  }
}

function signalled(): Promise<string> {
  return new Promise((resolve) => {
    const on = (signal: Deno.Signal) => {
      const handler = () => {
        Deno.removeSignalListener("SIGTERM", term);
        Deno.removeSignalListener("SIGINT", int);
        resolve(signal);
      };
      return handler;
    };
    const term = on("SIGTERM");
    const int = on("SIGINT");
    Deno.addSignalListener("SIGTERM", term);
    Deno.addSignalListener("SIGINT", int);
  });
}

/** Serves until asked to stop; returns the exit code. */
export async function serve(parts: DaemonParts): Promise<number> {
  const { settings } = parts;
  const log = parts.log ?? stderrLogger;
  const shutdown = new AbortController();
  // Pings a quiet connection after a minute; a client that does not answer in 20 s is dropped.
  const server = new RpcServer();
  const onCallEnd = requestLog(log);
  const watches = new WatchLimit(settings.maxWatchesPerUser);
  addService(
    server,
    JobService,
    jobServiceHandlers(parts.jobs, { shutdown: shutdown.signal, watches }),
    { onCallEnd },
  );
  // Rootfs listings show users the IDs of their own jobs only: they need the jobs' owners.
  const jobOwner = (id: string) => parts.jobs.get(id)?.owner;
  addService(server, RootfsService, rootfsServiceHandlers(parts.rootfs, { jobOwner }), {
    onCallEnd,
  });
  const host = settings.listen.includes(":") ? `[${settings.listen}]` : settings.listen;
  const address = `${host}:${settings.port}`;
  const stopRequested = parts.stopRequested ?? signalled();
  const listener = await listen(server, settings, address);
  logEvent("listening", { address, server: settings.serverName });

  const reason = await stopRequested;
  logEvent("shutting down", { reason });
  listener.close(); // no new connections; the open ones are closed below
  // Output streams end cleanly (their followers see the abort and return), no new calls
  // are accepted, and calls in flight get a moment to finish.
  shutdown.abort();
  server.drain();
  // The connections close when their calls are over (each was sent GOAWAY); what is still open
  // after 5 s is reset, and gets a second to say so.
  await listener.closed(5_000);
  server.close();
  await listener.closed(1_000);
  const running = parts.jobs.running;
  await parts.jobs.shutdown({ graceMs: Math.min(settings.graceMs, 10_000) });
  logEvent("stopped", settings.liveRestore ? { leftRunning: running } : {});
  return 0;
}
