/**
 * ijrctl (from source) as a running process the test can signal and watch: its stdout and
 * stderr are collected as they arrive, and the test may hold stdout unread (a slow reader) to
 * keep ijrctl behind the job.
 * @module
 */

import { join } from "node:path";
import { REPO } from "./cli.ts";

/** How a running ijrctl ended. */
export interface CtlExit {
  readonly code: number;
  /** Every byte ijrctl wrote on stdout. */
  readonly stdout: Uint8Array;
  readonly stderr: string;
}

/** A running ijrctl. */
export interface RunningCtl {
  readonly pid: number;
  /** stdout so far, as text. */
  stdoutText(): string;
  /** stderr so far. */
  stderr(): string;
  /** Resolves once stdout (as text) contains `text`; rejects after `timeoutMs`. */
  waitForStdout(text: string, timeoutMs?: number): Promise<void>;
  /** Resolves once stderr contains `text`; rejects after `timeoutMs`. */
  waitForStderr(text: string, timeoutMs?: number): Promise<void>;
  /** Starts (or resumes) reading stdout when it was held. */
  readStdout(): void;
  /** Sends a signal to ijrctl. */
  kill(signal: Deno.Signal): void;
  /** Resolves when ijrctl has exited and both streams are read to their end. */
  readonly exited: Promise<CtlExit>;
}

/**
 * Starts `ijrctl ARGS` with `IJR_CONFIG=config`. With `holdStdout`, stdout is not read until
 * {@link RunningCtl.readStdout}: ijrctl's writes block once the pipe is full.
 */
export function spawnCtl(
  config: string,
  args: string[],
  options: { holdStdout?: boolean } = {},
): RunningCtl {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", join(REPO, "ctl.ts"), ...args],
    cwd: REPO,
    env: { NO_COLOR: "1", IJR_CONFIG: config },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out: Uint8Array[] = [];
  let outText = "";
  let errText = "";
  const changed = new Set<() => void>();
  const notify = () => {
    for (const wake of changed) wake();
  };
  let openGate: () => void = () => {};
  const gate = options.holdStdout
    ? new Promise<void>((resolve) => openGate = resolve)
    : Promise.resolve();
  const decoder = new TextDecoder();
  const stdoutDone = (async () => {
    await gate;
    for await (const chunk of child.stdout) {
      out.push(chunk);
      outText += decoder.decode(chunk, { stream: true });
      notify();
    }
  })();
  const stderrDone = (async () => {
    const errDecoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      errText += errDecoder.decode(chunk, { stream: true });
      notify();
    }
  })();
  const waitFor = (what: string, read: () => string, text: string, timeoutMs: number) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!read().includes(text)) return;
        clearTimeout(timer);
        changed.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        changed.delete(check);
        reject(new Error(`ijrctl's ${what} never showed ${JSON.stringify(text)}:\n${read()}`));
      }, timeoutMs);
      changed.add(check);
      check();
    });
  const exited = (async () => {
    const status = await child.status;
    await Promise.all([stdoutDone, stderrDone]);
    const stdout = new Uint8Array(out.reduce((n, chunk) => n + chunk.length, 0));
    let at = 0;
    for (const chunk of out) {
      stdout.set(chunk, at);
      at += chunk.length;
    }
    return { code: status.code, stdout, stderr: errText };
  })();
  return {
    pid: child.pid,
    stdoutText: () => outText,
    stderr: () => errText,
    waitForStdout: (text, timeoutMs = 30_000) => waitFor("stdout", () => outText, text, timeoutMs),
    waitForStderr: (text, timeoutMs = 30_000) => waitFor("stderr", () => errText, text, timeoutMs),
    readStdout: () => openGate(),
    kill: (signal) => child.kill(signal),
    exited,
  };
}
