/**
 * Request fields in the API's terms: the checks and conversions every service applies to what
 * protobuf decoded, before any work is done. protobuf accepts any value of a field's wire
 * type (a Duration of 2^63-1 seconds, nanos past a second, a uint64 of 2^64-1), so each field
 * is checked here against its documented range, and a client mistake is INVALID_ARGUMENT
 * naming the field ("timeout.nanos", "job_id", "metadata.size"). Conversions to JavaScript
 * numbers are exact or refused, never rounded.
 * @module
 */

import type { Duration } from "@bufbuild/protobuf/wkt";
import { invalidArgument, quoteValue } from "../../errors/mod.ts";
import { isJobId } from "../../job/mod.ts";

const NANOS_PER_SECOND = 1_000_000_000n;
const NANOS_PER_MS = 1_000_000n;
const MAX_NANOS = 999_999_999;

/** Throws INVALID_ARGUMENT naming `field` unless `id` is shaped like a job ID. */
export function checkJobId(field: string, id: string): void {
  if (!isJobId(id)) {
    throw invalidArgument(`${field} must be 16 lower-case hex digits, got ${quoteValue(id)}`);
  }
}

/** A range a duration field must lie in, in milliseconds, and how its message says it. */
export interface DurationRange {
  readonly minMs: number;
  readonly maxMs: number;
  /** The range for people, after "must be ": "from 0.001s to 2592000s (30 days)". */
  readonly text: string;
}

/** A Duration as protobuf's JSON mapping writes it: "1.5s", "-0.000000001s", "3600s". */
export function formatDuration(duration: Pick<Duration, "seconds" | "nanos">): string {
  const total = duration.seconds * NANOS_PER_SECOND + BigInt(duration.nanos);
  const sign = total < 0n ? "-" : "";
  const magnitude = total < 0n ? -total : total;
  const seconds = magnitude / NANOS_PER_SECOND;
  const fraction = (magnitude % NANOS_PER_SECOND).toString().padStart(9, "0").replace(/0+$/, "");
  return `${sign}${seconds}${fraction ? `.${fraction}` : ""}s`;
}

/**
 * Converts a google.protobuf.Duration field to milliseconds, rounded up (a timeout never fires
 * early), after checking protobuf's rules for a Duration (nanos within a second and of the
 * same sign as seconds) and `range`. Unset stays undefined.
 */
export function durationToMs(
  field: string,
  duration: Duration | undefined,
  range: DurationRange,
): number | undefined {
  if (duration === undefined) return undefined;
  const { seconds, nanos } = duration;
  if (nanos < -MAX_NANOS || nanos > MAX_NANOS) {
    throw invalidArgument(
      `${field}.nanos must be from -${MAX_NANOS} to ${MAX_NANOS}, got ${nanos}`,
    );
  }
  if ((seconds > 0n && nanos < 0) || (seconds < 0n && nanos > 0)) {
    throw invalidArgument(
      `${field}.seconds and ${field}.nanos must not have opposite signs, ` +
        `got ${seconds} and ${nanos}`,
    );
  }
  const total = seconds * NANOS_PER_SECOND + BigInt(nanos);
  if (total < BigInt(range.minMs) * NANOS_PER_MS || total > BigInt(range.maxMs) * NANOS_PER_MS) {
    throw invalidArgument(`${field} must be ${range.text}, got ${formatDuration(duration)}`);
  }
  return Number((total + NANOS_PER_MS - 1n) / NANOS_PER_MS);
}

/** A uint64 field as a number; INVALID_ARGUMENT past Number.MAX_SAFE_INTEGER. */
export function safeNumber(field: string, value: bigint): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw invalidArgument(
      `${field} must be from 0 to ${Number.MAX_SAFE_INTEGER}, got ${value}`,
    );
  }
  return Number(value);
}

/** An optional uint64 field whose zero means "the default": undefined for 0. */
export function optionalUint64(value: bigint): bigint | undefined {
  return value === 0n ? undefined : value;
}
