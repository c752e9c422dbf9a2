/**
 * ijrd's user namespace pool, checked before it is used (ijrd --userns-pool START:COUNT): the
 * range must hold whole ranges of 65536 ids, leave uid 0 and (uid_t)-1 out, and overlap no
 * user or group of the host and no subordinate id range (/etc/subuid, /etc/subgid) given to
 * anyone: a job's root must own nothing on the host. Then the kernel is asked to do what a
 * job's start does with it (an idmapped rootfs under an overlay, Linux 5.19).
 * @module
 */

import { PreflightError } from "./preflight.ts";

/** The pool's ids, [start, start + count). */
export interface PoolRange {
  readonly start: number;
  readonly count: number;
}

/**
 * The default pool: 1879048192 (0x70000000) up to 2147352576 (0x7FFE0000), ids systemd
 * leaves unused (between its container range and its "foreign" range): 4094 jobs at once.
 */
export const DEFAULT_USERNS_POOL = "1879048192:268304384";

const RANGE = 65536;

/** Parses START:COUNT. */
export function parsePool(text: string): PoolRange {
  const match = /^(\d{1,10}):(\d{1,10})$/.exec(text);
  if (!match) {
    throw new PreflightError(`--userns-pool must be START:COUNT, got "${text}"`);
  }
  const start = Number(match[1]);
  const count = Number(match[2]);
  if (start < 1) throw new PreflightError("--userns-pool must not include uid 0");
  if (count < RANGE || count % RANGE !== 0) {
    throw new PreflightError(
      `--userns-pool's COUNT must be a multiple of ${RANGE} (one job's range), got ${count}`,
    );
  }
  if (start + count > 4294967295) {
    throw new PreflightError(
      "--userns-pool must end below 4294967295 ((uid_t)-1 is not an id)",
    );
  }
  return { start, count };
}

/** What the host's id databases hold, as their files say. */
export interface HostIds {
  /** /etc/passwd, /etc/group: name and id. */
  readonly users: readonly { name: string; id: number }[];
  readonly groups: readonly { name: string; id: number }[];
  /** /etc/subuid, /etc/subgid: owner, start, count. */
  readonly subuid: readonly { owner: string; start: number; count: number }[];
  readonly subgid: readonly { owner: string; start: number; count: number }[];
}

function parseIds(text: string): { name: string; id: number }[] {
  return text.split("\n").filter((line) => line && !line.startsWith("#")).flatMap((line) => {
    const [name, , id] = line.split(":");
    return /^\d+$/.test(id ?? "") ? [{ name, id: Number(id) }] : [];
  });
}

function parseSubordinate(text: string) {
  return text.split("\n").filter((line) => line && !line.startsWith("#")).flatMap((line) => {
    const [owner, start, count] = line.split(":");
    return /^\d+$/.test(start ?? "") && /^\d+$/.test(count ?? "")
      ? [{ owner, start: Number(start), count: Number(count) }]
      : [];
  });
}

function readOrEmpty(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "";
    throw error;
  }
}

/** Reads the host's id databases (missing files are empty). */
export function readHostIds(etc = "/etc"): HostIds {
  return {
    users: parseIds(readOrEmpty(`${etc}/passwd`)),
    groups: parseIds(readOrEmpty(`${etc}/group`)),
    subuid: parseSubordinate(readOrEmpty(`${etc}/subuid`)),
    subgid: parseSubordinate(readOrEmpty(`${etc}/subgid`)),
  };
}

/** Refuses a pool that overlaps any id or subordinate range of the host, naming it. */
export function checkPoolAgainstHost(pool: PoolRange, host: HostIds): void {
  const end = pool.start + pool.count;
  const inPool = (id: number) => id >= pool.start && id < end;
  const shown = `--userns-pool ${pool.start}:${pool.count}`;
  for (const user of host.users) {
    if (inPool(user.id)) {
      throw new PreflightError(`${shown} includes uid ${user.id} of user ${user.name}`);
    }
  }
  for (const group of host.groups) {
    if (inPool(group.id)) {
      throw new PreflightError(`${shown} includes gid ${group.id} of group ${group.name}`);
    }
  }
  for (
    const [file, ranges] of [["/etc/subuid", host.subuid], ["/etc/subgid", host.subgid]] as const
  ) {
    for (const range of ranges) {
      if (range.start < end && range.start + range.count > pool.start) {
        throw new PreflightError(
          `${shown} overlaps ${file}'s range ${range.start}:${range.count} of ${range.owner}`,
        );
      }
    }
  }
}
