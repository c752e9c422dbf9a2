/**
 * ijrd's request log on stderr (lib/rpc/services/request_log.ts `stderrLogger`): each entry is
 * one JSON line, whole and in order, in a process of its own whose stderr is a pipe, as under a
 * service manager.
 */
import assert from "node:assert/strict";

Deno.test("request log: each entry is one JSON line on stderr, whole and in order", async () => {
  const module = new URL("../../lib/rpc/services/request_log.ts", import.meta.url).href;
  // 300 entries, one with a long error, so that lines pass the pipe's buffer size together.
  const script = `
    import { stderrLogger } from "${module}";
    for (let i = 0; i < 300; i++) {
      stderrLogger({
        time: "2026-12-03T12:00:00.000Z",
        method: "/ijr.v1.JobService/GetJob",
        identity: "alice(user)",
        job: "5ea10000000000" + String(i).padStart(2, "0"),
        outcome: i === 7 ? "INTERNAL" : "OK",
        durationMs: i / 10,
        ...(i === 7 ? { error: "é".repeat(5000) } : {}),
      });
    }
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  assert.equal(new TextDecoder().decode(output.stdout), "");
  const text = new TextDecoder().decode(output.stderr);
  assert.ok(text.endsWith("}\n"));
  const lines = text.slice(0, -1).split("\n");
  assert.equal(lines.length, 300);
  lines.forEach((line, i) => {
    const entry = JSON.parse(line);
    assert.equal(entry.job, "5ea10000000000" + String(i).padStart(2, "0"));
    assert.equal(entry.durationMs, i / 10);
    assert.equal(entry.error, i === 7 ? "é".repeat(5000) : undefined);
  });
});
