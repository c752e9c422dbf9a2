/**
 * lib/ctl/reconnect.ts: which failures are worth a retry, the backoff between attempts, the
 * bound on an outage, and what the person is told. A fake clock: every wait is recorded and
 * advances it.
 */
import assert from "node:assert/strict";
import { Code, RpcError } from "../../lib/rpc/wire/mod.ts";
import { isConnectionLost, ReconnectGaveUp, Reconnector } from "../../lib/ctl/reconnect.ts";

function harness(reconnectForMs: number) {
  let now = 1_000_000;
  const waits: number[] = [];
  const lines: string[] = [];
  const reconnector = new Reconnector({
    server: "node7:50051",
    reconnectForMs,
    report: (line) => lines.push(line),
    sleep: (ms) => {
      waits.push(ms);
      now += ms;
      return Promise.resolve();
    },
    now: () => now,
  });
  return { reconnector, waits, lines, advance: (ms: number) => now += ms };
}

const refused = new RpcError(Code.UNAVAILABLE, "connect ECONNREFUSED 127.0.0.1:50051");

/** A call that fails `times` times with `error`, then answers "ok". */
function failing(times: number, error: unknown = refused) {
  let calls = 0;
  const call = () => calls++ < times ? Promise.reject(error) : Promise.resolve("ok");
  return { call, calls: () => calls };
}

Deno.test("reconnect: only UNAVAILABLE, DEADLINE_EXCEEDED and CANCELLED are a lost connection", () => {
  assert.equal(isConnectionLost(refused), true);
  assert.equal(isConnectionLost(new RpcError(Code.DEADLINE_EXCEEDED, "late")), true);
  assert.equal(isConnectionLost(new RpcError(Code.CANCELLED, "Call cancelled")), true);
  for (const code of [Code.NOT_FOUND, Code.INTERNAL, Code.OUT_OF_RANGE, Code.UNKNOWN]) {
    assert.equal(isConnectionLost(new RpcError(code, "x")), false);
  }
  assert.equal(isConnectionLost(new Error("UNAVAILABLE")), false);
});

Deno.test("reconnect: waits 0.1 s doubling to 2 s, says when it lost and found ijrd", async () => {
  const { reconnector, waits, lines } = harness(60_000);
  const { call, calls } = failing(8);
  assert.equal(await reconnector.call(call), "ok");
  assert.equal(calls(), 9);
  assert.deepEqual(waits, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
  assert.deepEqual(lines, [
    "lost the connection to ijrd at node7:50051 (connect ECONNREFUSED 127.0.0.1:50051); " +
    "reconnecting for up to 1m",
    "reconnected to ijrd at node7:50051",
  ]);
  assert.equal(reconnector.inOutage, false);
  // The next outage starts again from the shortest wait.
  waits.length = 0;
  assert.equal(await reconnector.call(failing(2).call), "ok");
  assert.deepEqual(waits, [100, 200]);
});

Deno.test("reconnect: gives up when an outage outlasts the bound, after a last try at it", async () => {
  const { reconnector, waits } = harness(1_000);
  const { call, calls } = failing(Infinity);
  await assert.rejects(reconnector.call(call), (error: unknown) => {
    assert.ok(error instanceof ReconnectGaveUp);
    assert.equal(
      error.message,
      "could not reconnect to ijrd at node7:50051 within 1s (--reconnect-for): " +
        "connect ECONNREFUSED 127.0.0.1:50051",
    );
    return true;
  });
  // 100 + 200 + 400 = 700, then the last 300 ms up to the bound, one more try, then no more.
  assert.deepEqual(waits, [100, 200, 400, 300]);
  assert.equal(calls(), 5);
});

Deno.test("reconnect: ijrd's own answers are final, and 0 never retries", async () => {
  const { reconnector, waits, lines } = harness(60_000);
  const notFound = new RpcError(Code.NOT_FOUND, "job 0123456789abcdef not found");
  await assert.rejects(reconnector.call(failing(1, notFound).call), notFound);
  assert.deepEqual([waits, lines], [[], []]);

  const never = harness(0);
  await assert.rejects(never.reconnector.call(failing(1).call), (error: unknown) => {
    assert.ok(error instanceof ReconnectGaveUp);
    assert.equal(
      error.message,
      "lost the connection to ijrd at node7:50051: connect ECONNREFUSED 127.0.0.1:50051",
    );
    return true;
  });
  assert.deepEqual([never.waits, never.lines], [[], []]);
});

Deno.test("reconnect: failures during one outage share its clock", async () => {
  const { reconnector, advance, lines } = harness(5_000);
  await reconnector.failed(refused); // the outage starts; waits 0.1 s
  advance(4_900); // another call failing 5 s after the first: the outage is over its bound
  await assert.rejects(reconnector.failed(refused), ReconnectGaveUp);
  assert.equal(lines.length, 1, "one outage, reported once");
});

Deno.test("reconnect: once its signal is aborted, a failure is thrown as it is, without a wait", async () => {
  const closing = new AbortController();
  const waits: number[] = [];
  const reconnector = new Reconnector({
    server: "node7:50051",
    reconnectForMs: 60_000,
    report: () => {},
    sleep: (ms) => {
      waits.push(ms);
      closing.abort(); // the client closes while the call waits
      return Promise.resolve();
    },
    signal: closing.signal,
  });
  const { call, calls } = failing(Infinity);
  await assert.rejects(reconnector.call(call), refused);
  assert.deepEqual([waits, calls()], [[100], 1]);
  await assert.rejects(reconnector.call(call), refused);
  assert.deepEqual([waits, calls()], [[100], 2]);
});
