/**
 * Durations on the command line: "250ms", "10s", "1.5s", "5m", "1h30m", or a bare number of
 * seconds. Used by --grace, --timeout and the daemon's defaults.
 * @module
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
/** Longer than any sensible timeout, and small enough for timers (2^31 ms is ~24.8 days). */
const MAX_MS = 2 ** 31 - 1;

/** Parses a duration into milliseconds; throws an error naming the input when malformed. */
export function parseDuration(text: string): number {
  const value = text.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(value)) {
    ms = Number(value) * 1_000;
  } else if (/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(value)) {
    ms = 0;
    for (const [, amount, , unit] of value.matchAll(/(\d+(\.\d+)?)(ms|s|m|h)/g)) {
      ms += Number(amount) * UNIT_MS[unit];
    }
  } else {
    throw new Error(`invalid duration "${text}": use e.g. 500ms, 10s, 5m, 1h30m`);
  }
  if (ms > MAX_MS) throw new Error(`duration "${text}" is too long (at most 24 days)`);
  return Math.round(ms);
}

/** Formats milliseconds for people: "1h2m3s", "1.5s", "12ms". */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return ms === 0 ? "0s" : `${ms}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = (ms % 60_000) / 1_000;
  let text = "";
  if (hours) text += `${hours}h`;
  if (minutes) text += `${minutes}m`;
  if (seconds) text += `${Number(seconds.toFixed(3))}s`;
  return text;
}
