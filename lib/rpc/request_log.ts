/**
 * One structured line per request on stderr: when, who, which method, which job or rootfs,
 * the outcome (OK or the status code's name) and how long it took. Internal errors are
 * logged here with their real message, which the caller never sees.
 * @module
 */

import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import type { CallContext, ServiceHandlers } from "./adapter.ts";
import { callerOf } from "./caller.ts";
import { statusName, toStatus } from "./status.ts";

/** One request's log entry. */
export interface RequestLogEntry {
  readonly time: string;
  readonly identity: string;
  readonly method: string;
  readonly job?: string;
  readonly rootfs?: string;
  readonly outcome: string;
  readonly durationMs: number;
  readonly error?: string;
  readonly messages?: number;
}

/** Where log entries go; the daemon writes JSON lines to stderr. */
export type RequestLogger = (entry: RequestLogEntry) => void;

/** Writes each entry as one JSON line on stderr. */
export const stderrLogger: RequestLogger = (entry) => {
  console.error(JSON.stringify(entry));
};

function subjectOf(request: unknown, response?: unknown): { job?: string; rootfs?: string } {
  const req = request as Record<string, unknown> | undefined;
  const res = response as { job?: { id?: string }; rootfs?: { name?: string } } | undefined;
  const job = (req?.jobId as string | undefined) || res?.job?.id || undefined;
  const part = req?.part as { case?: string; value?: { name?: string } } | undefined;
  const rootfs = (req?.rootfs as string | undefined) || (req?.name as string | undefined) ||
    (part?.case === "metadata" ? part.value?.name : undefined) || res?.rootfs?.name || undefined;
  return { job, rootfs };
}

function who(context: CallContext): string {
  try {
    const caller = callerOf(context);
    return `${caller.name}(${caller.role})`;
  } catch {
    return "unauthenticated";
  }
}

/** Wraps every handler of a service so each call is logged once, when it ends. */
export function withRequestLog<T extends GenServiceMethods>(
  service: GenService<T>,
  handlers: ServiceHandlers<T>,
  log: RequestLogger,
): ServiceHandlers<T> {
  const wrapped: Record<string, unknown> = {};
  const table = handlers as Record<string, (...args: unknown[]) => unknown>;
  for (const method of service.methods) {
    const handler = table[method.localName];
    const path = `/${service.typeName}/${method.name}`;
    const finish = (
      started: number,
      context: CallContext,
      subject: { job?: string; rootfs?: string },
      error?: unknown,
      messages?: number,
    ) => {
      const status = error === undefined ? undefined : toStatus(error);
      log({
        time: new Date().toISOString(),
        identity: who(context),
        method: path,
        ...subject,
        outcome: status ? statusName(status.code) : "OK",
        durationMs: Math.round(performance.now() - started),
        ...(status?.code === 13 ? { error: String((error as Error)?.stack ?? error) } : {}),
        ...(messages === undefined ? {} : { messages }),
      });
    };
    if (method.methodKind === "server_streaming") {
      wrapped[method.localName] = async function* (request: unknown, context: CallContext) {
        const started = performance.now();
        let messages = 0;
        try {
          for await (const message of handler(request, context) as AsyncIterable<unknown>) {
            messages++;
            yield message;
          }
          finish(started, context, subjectOf(request), undefined, messages);
        } catch (error) {
          finish(started, context, subjectOf(request), error, messages);
          throw error;
        }
      };
    } else if (method.methodKind === "client_streaming") {
      wrapped[method.localName] = async (
        requests: AsyncIterable<unknown>,
        context: CallContext,
      ) => {
        const started = performance.now();
        let first: unknown;
        async function* observed() {
          for await (const request of requests) {
            first ??= request;
            yield request;
          }
        }
        try {
          const response = await (handler(observed(), context) as Promise<unknown>);
          finish(started, context, subjectOf(first, response));
          return response;
        } catch (error) {
          finish(started, context, subjectOf(first), error);
          throw error;
        }
      };
    } else {
      wrapped[method.localName] = async (request: unknown, context: CallContext) => {
        const started = performance.now();
        try {
          const response = await (handler(request, context) as Promise<unknown>);
          finish(started, context, subjectOf(request, response));
          return response;
        } catch (error) {
          finish(started, context, subjectOf(request), error);
          throw error;
        }
      };
    }
  }
  return wrapped as ServiceHandlers<T>;
}
