/** The status state machine on its own: every transition the README promises. */
import { describe, expect, it } from "vitest";
import { nextStatus, type StatusState } from "../../src/health/status";

const fresh: StatusState = { status: "initializing", status_detail: null, consecutive_failures: 0 };
const ok = { ok: true, latency_ms: 100, detail: null };
const fail = (detail = "429 from upstream") => ({ ok: false, latency_ms: null, detail });

function run(start: StatusState, outcomes: { ok: boolean; latency_ms: number | null; detail: string | null }[]) {
  let state = start;
  const history: boolean[] = [];
  const seen: string[] = [];
  for (const outcome of outcomes) {
    state = nextStatus(state, outcome, history);
    history.unshift(outcome.ok);
    seen.push(state.status);
  }
  return { state, seen };
}

describe("nextStatus", () => {
  it("a first good check makes a model available", () => {
    expect(run(fresh, [ok]).seen).toEqual(["available"]);
  });

  it("one transient failure degrades, three in a row mean error, a success brings it back", () => {
    const { seen, state } = run(fresh, [ok, fail(), fail(), fail(), ok]);
    expect(seen).toEqual(["available", "degraded", "degraded", "error", "available"]);
    expect(state.consecutive_failures).toBe(0);
  });

  it("says why: the failure count and the last error", () => {
    const { state } = run(fresh, [fail("timeout"), fail("timeout"), fail("HF token rejected (401)")]);
    expect(state).toEqual({ status: "error", status_detail: "3 failures in a row: HF token rejected (401)", consecutive_failures: 3 });
  });

  it("a success between failures resets the streak", () => {
    expect(run(fresh, [fail(), fail(), ok, fail(), fail()]).seen).toEqual(["degraded", "degraded", "available", "degraded", "degraded"]);
  });

  it("slow successes are degraded", () => {
    const state = nextStatus(fresh, { ok: true, latency_ms: 7_200, detail: null }, [], 5_000);
    expect(state).toMatchObject({ status: "degraded", status_detail: "slow: 7.2 s (over 5 s)" });
  });

  it("intermittent failures keep a model degraded even when the latest check passed", () => {
    const { seen, state } = run(fresh, [ok, fail(), ok, fail(), ok, fail(), ok]);
    expect(seen.at(-1)).toBe("degraded");
    expect(state.status_detail).toBe("intermittent: 3 of the last 7 results failed");
  });

  it("one blip, or one outage that ended, is not flapping: checks after it stay available", () => {
    expect(run(fresh, [ok, fail(), ok, ok]).seen).toEqual(["available", "degraded", "available", "available"]);
    const outage = run(fresh, [ok, fail(), fail(), fail(), ok, ok, ok]);
    expect(outage.seen).toEqual(["available", "degraded", "degraded", "error", "available", "available", "available"]);
  });

  it("maintenance is never changed by a result", () => {
    const maintenance: StatusState = { status: "maintenance", status_detail: "set by an admin", consecutive_failures: 0 };
    const { seen } = run(maintenance, [fail(), fail(), fail(), ok]);
    expect(seen).toEqual(["maintenance", "maintenance", "maintenance", "maintenance"]);
  });
});
