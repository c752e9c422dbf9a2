/**
 * Reaching ijrd again after the connection broke while ijrctl was attached to a job: ijrd
 * restarted (an upgrade, systemd's Restart=), or the connection dropped. Attached, ijrctl
 * stands in for the job (a Slurm step, a CI runner, a terminal), so it should ride out a short
 * outage rather than report a failure the job never had; but not forever, and saying so.
 * @module
 */

import { RpcError } from "../rpc/client/mod.ts";
import { formatDuration } from "../units/mod.ts";

/** How long ijrctl keeps trying to reach ijrd again, unless --reconnect-for says otherwise. */
export const DEFAULT_RECONNECT_MS = 60_000;

/** The first wait after a failure; each further one doubles, up to the next constant. */
const FIRST_DELAY_MS = 100;

/** The longest wait between two attempts: a restarted ijrd is found within two seconds. */
const MAX_DELAY_MS = 2_000;

/** The statuses that say the connection failed, not ijrd: see {@link isConnectionLost}. */
const CONNECTION_LOST = new Set(["UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED"]);

/**
 * True for the failures that mean "ijrd could not be reached or went away", after which the
 * same call may succeed: UNAVAILABLE (refused, reset, dropped, "ijrd is shutting down"),
 * DEADLINE_EXCEEDED (a call with a deadline that got no answer) and CANCELLED, which ijrd
 * never answers but a stopping ijrd's connection ends a call with when the call's messages
 * are waiting for a slow reader. The caller retries only calls it did not cancel itself.
 * Every other status is ijrd's answer and is final.
 */
export function isConnectionLost(error: unknown): boolean {
  return error instanceof RpcError && CONNECTION_LOST.has(error.codeName);
}

/** Thrown when ijrd could not be reached again within the allowed time. */
export class ReconnectGaveUp extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReconnectGaveUp";
  }
}

/** What a {@link Reconnector} needs. */
export interface ReconnectorOptions {
  /** The address ijrctl talks to, for messages. */
  readonly server: string;
  /** How long an outage may last before ijrctl gives up; 0 gives up at the first failure. */
  readonly reconnectForMs: number;
  /** Writes one line for people (stderr): lost, reconnected. */
  readonly report: (line: string) => void;
  /** Waits; a test may pass its own. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** The clock; a test may pass its own. */
  readonly now?: () => number;
  /** Ends retrying: a failure after it is aborted is thrown as it is, without a wait. */
  readonly signal?: AbortSignal;
}

/**
 * Retries calls to ijrd across outages with exponential backoff (0.1 s doubling to 2 s). An
 * outage begins at the first connection failure and ends at the next call that succeeds; one
 * that lasts longer than `reconnectForMs` ends in {@link ReconnectGaveUp}. One object serves
 * every call of an attached client, so calls made during one outage share its clock.
 */
export class Reconnector {
  readonly #options: ReconnectorOptions;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #now: () => number;
  #outageStart: number | undefined;
  #delayMs = FIRST_DELAY_MS;

  constructor(options: ReconnectorOptions) {
    this.#options = options;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#now = options.now ?? Date.now;
  }

  /** True between a connection failure and the next call that succeeds. */
  get inOutage(): boolean {
    return this.#outageStart !== undefined;
  }

  /**
   * Runs `call` until it succeeds, waiting between attempts while ijrd cannot be reached. A
   * failure that is ijrd's answer is thrown at once.
   * @throws {ReconnectGaveUp} when the outage outlasts `reconnectForMs`.
   */
  async call<T>(call: () => Promise<T>): Promise<T> {
    while (true) {
      try {
        const result = await call();
        this.succeeded();
        return result;
      } catch (error) {
        if (!isConnectionLost(error)) throw error;
        await this.failed(error as RpcError);
      }
    }
  }

  /**
   * Notes a connection failure and waits before the next attempt: the first failure of an
   * outage is reported, and starts its clock.
   * @throws {ReconnectGaveUp} when the next attempt would come after `reconnectForMs`.
   */
  async failed(error: RpcError): Promise<void> {
    const { server, reconnectForMs, report, signal } = this.#options;
    // The client is done (its connection closed under the call): nothing to retry for.
    if (signal?.aborted) throw error;
    const now = this.#now();
    if (this.#outageStart === undefined) {
      this.#outageStart = now;
      this.#delayMs = FIRST_DELAY_MS;
      if (reconnectForMs > 0) {
        report(
          `lost the connection to ijrd at ${server} (${error.message}); ` +
            `reconnecting for up to ${formatDuration(reconnectForMs)}`,
        );
      }
    }
    const elapsed = now - this.#outageStart;
    if (elapsed >= reconnectForMs) {
      throw new ReconnectGaveUp(
        reconnectForMs > 0
          ? `could not reconnect to ijrd at ${server} within ` +
            `${formatDuration(reconnectForMs)} (--reconnect-for): ${error.message}`
          : `lost the connection to ijrd at ${server}: ${error.message}`,
      );
    }
    // The last attempt is made at the deadline, not skipped for want of a full delay.
    const delay = Math.min(this.#delayMs, reconnectForMs - elapsed);
    this.#delayMs = Math.min(this.#delayMs * 2, MAX_DELAY_MS);
    await this.#sleep(delay);
    if (signal?.aborted) throw error;
  }

  /** Notes a call that reached ijrd: an outage, if any, is over. */
  succeeded(): void {
    if (this.#outageStart === undefined) return;
    this.#outageStart = undefined;
    this.#options.report(`reconnected to ijrd at ${this.#options.server}`);
  }
}
