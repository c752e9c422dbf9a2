/**
 * setLongTimeout (lib/job/long_timer.ts) on node:test's mock clock, which keeps setTimeout's
 * 32-bit limit: a plain setTimeout past 2^31-1 ms fires after 1 ms there, as it does for real.
 */
import assert from "node:assert/strict";
import { mock } from "node:test";
import { MAX_TIMER_DELAY_MS, setLongTimeout } from "../../lib/job/long_timer.ts";
import { MAX_TIMEOUT_MS } from "../../lib/job/start_request.ts";

function withMockClock(fn: () => void): void {
  mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
  try {
    fn();
  } finally {
    mock.timers.reset();
  }
}

Deno.test("long timer: the problem, setTimeout past 2^31-1 ms fires at once", () => {
  withMockClock(() => {
    let fired = 0;
    setTimeout(() => fired++, MAX_TIMER_DELAY_MS + 1);
    mock.timers.tick(1);
    assert.equal(fired, 1);
  });
});

Deno.test("long timer: a delay setTimeout holds fires on time, once", () => {
  withMockClock(() => {
    let fired = 0;
    setLongTimeout(() => fired++, MAX_TIMER_DELAY_MS);
    mock.timers.tick(MAX_TIMER_DELAY_MS - 1);
    assert.equal(fired, 0);
    mock.timers.tick(1);
    assert.equal(fired, 1);
    mock.timers.tick(10 * MAX_TIMER_DELAY_MS);
    assert.equal(fired, 1);
  });
});

Deno.test("long timer: 30 days fires after 30 days, not before, once", () => {
  withMockClock(() => {
    let fired = 0;
    setLongTimeout(() => fired++, MAX_TIMEOUT_MS);
    mock.timers.tick(1);
    assert.equal(fired, 0);
    mock.timers.tick(MAX_TIMEOUT_MS - 2);
    assert.equal(fired, 0);
    mock.timers.tick(1);
    assert.equal(fired, 1);
    mock.timers.tick(3 * MAX_TIMEOUT_MS);
    assert.equal(fired, 1);
  });
});

Deno.test("long timer: a delay that does not split evenly fires at most a few ms late", () => {
  withMockClock(() => {
    let fired = 0;
    const delay = MAX_TIMER_DELAY_MS * 3 + 2;
    setLongTimeout(() => fired++, delay);
    mock.timers.tick(delay - 1);
    assert.equal(fired, 0);
    mock.timers.tick(4);
    assert.equal(fired, 1);
  });
});

Deno.test("long timer: clearTimeout cancels it before and after it re-armed", () => {
  withMockClock(() => {
    let fired = 0;
    const early = setLongTimeout(() => fired++, MAX_TIMEOUT_MS);
    const late = setLongTimeout(() => fired++, MAX_TIMEOUT_MS);
    mock.timers.tick(1000);
    clearTimeout(early);
    mock.timers.tick(MAX_TIMEOUT_MS / 2 + 1000); // past the first period of `late`
    clearTimeout(late);
    mock.timers.tick(2 * MAX_TIMEOUT_MS);
    assert.equal(fired, 0);
  });
});
