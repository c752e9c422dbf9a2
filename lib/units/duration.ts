/**
 * Durations on the command line: "250ms", "10s", "1.5s", "5m", "1h30m", "7d", or a bare
 * number of seconds. Used by --grace, --timeout, --retain-for and the daemon's defaults.
 * @module
 */

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** The longest duration a flag takes unless it says otherwise: 30 days, the API's timeout. */
export const DEFAULT_MAX_DURATION_MS = 30 * 86_400_000;

/**
 * Parses a duration into milliseconds; throws an error naming the input when malformed or
 * longer than `maxMs`.
 */
export function parseDuration(text: string, maxMs = DEFAULT_MAX_DURATION_MS): number {
  const value = text.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(value)) {
    ms = Number(value) * 1_000;
  } else if (/^(\d+(\.\d+)?(ms|s|m|h|d))+$/.test(value)) {
    ms = 0;
    for (const [, amount, , unit] of value.matchAll(/(\d+(\.\d+)?)(ms|s|m|h|d)/g)) {
      ms += Number(amount) * UNIT_MS[unit];
    }
  } else {
    throw new Error(`invalid duration "${text}": use e.g. 500ms, 10s, 5m, 1h30m, 7d`);
  }
  if (ms > maxMs) {
    throw new Error(`duration "${text}" is too long (at most ${formatDuration(maxMs)})`);
  }
  return Math.round(ms);
}

/** Formats milliseconds for people: "2d", "1h2m3s", "1.5s", "12ms". */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return ms === 0 ? "0s" : `${ms}ms`;
  const days = Math.floor(ms / 86_400_000);
  const hours = Math.floor((ms % 86_400_000) / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = (ms % 60_000) / 1_000;
  let text = "";
  if (days) text += `${days}d`;
  if (hours) text += `${hours}h`;
  if (minutes) text += `${minutes}m`;
  if (seconds) text += `${Number(seconds.toFixed(3))}s`;
  return text;
}
