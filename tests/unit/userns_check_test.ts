import assert from "node:assert/strict";
import {
  checkPoolAgainstHost,
  DEFAULT_USERNS_POOL,
  parsePool,
} from "../../lib/daemon/userns_check.ts";
import { PreflightError } from "../../lib/daemon/preflight.ts";

function refused(fn: () => unknown, message: string) {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof PreflightError);
    assert.equal(error.message, message);
    return true;
  });
}

const host = {
  users: [{ name: "root", id: 0 }, { name: "alice", id: 1000 }, { name: "nobody", id: 65534 }],
  groups: [{ name: "root", id: 0 }, { name: "staff", id: 50 }],
  subuid: [{ owner: "alice", start: 100000, count: 65536 }],
  subgid: [{ owner: "alice", start: 100000, count: 65536 }],
};

Deno.test("userns pool: START:COUNT in whole ranges, without uid 0 and (uid_t)-1", () => {
  assert.deepEqual(parsePool(DEFAULT_USERNS_POOL), { start: 1879048192, count: 268304384 });
  assert.equal(parsePool(DEFAULT_USERNS_POOL).count / 65536, 4094);
  refused(() => parsePool("lots"), `--userns-pool must be START:COUNT, got "lots"`);
  refused(() => parsePool("0:65536"), "--userns-pool must not include uid 0");
  refused(
    () => parsePool("1000000:1000"),
    "--userns-pool's COUNT must be a multiple of 65536 (one job's range), got 1000",
  );
  refused(
    () => parsePool("4294901760:65536"),
    "--userns-pool must end below 4294967295 ((uid_t)-1 is not an id)",
  );
});

Deno.test("userns pool: no host user, group or subordinate range inside it", () => {
  checkPoolAgainstHost(parsePool(DEFAULT_USERNS_POOL), host);
  refused(
    () => checkPoolAgainstHost(parsePool("1:65536"), host),
    "--userns-pool 1:65536 includes uid 1000 of user alice",
  );
  refused(
    () => checkPoolAgainstHost(parsePool("131072:65536"), host),
    "--userns-pool 131072:65536 overlaps /etc/subuid's range 100000:65536 of alice",
  );
  refused(
    () =>
      checkPoolAgainstHost(parsePool("65536:65536"), {
        ...host,
        users: [],
        groups: [{ name: "odd", id: 70000 }],
      }),
    "--userns-pool 65536:65536 includes gid 70000 of group odd",
  );
});
