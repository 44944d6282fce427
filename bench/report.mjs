/** The load mode's table: medians over rounds, ratios to the floors, and whether each speed goal is met. */
import { cpus } from "node:os";

function median(values) {
  const sorted = values.filter((v) => v !== undefined && Number.isFinite(v)).sort((x, y) => x - y);
  if (sorted.length === 0) return undefined;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const FLOOR_OF = { "gateway-v1": "floor-v1", "gateway-mcp": "floor-mcp", "gateway-mcp-list": "floor-mcp-list" };

/**
 * Per target, the median over rounds of req/s, p50 and p99, of the p50 added over
 * the direct call, and of the ratios to its floor computed within each round.
 */
export function summarizeRounds(rounds, targets) {
  const out = {};
  for (const { key } of targets) {
    const per = rounds.map((r) => {
      const t = r[key];
      const direct = r.direct;
      const floor = r[FLOOR_OF[key]];
      const added = direct ? t.p50 - direct.p50 : undefined;
      const floorAdded = floor && direct ? floor.p50 - direct.p50 : undefined;
      return {
        rps: t.rps,
        p50: t.p50,
        p99: t.p99,
        added,
        rpsVsFloor: floor ? t.rps / floor.rps : undefined,
        addedVsFloor: added !== undefined && floorAdded ? added / floorAdded : undefined,
        listVsChat: key === "gateway-mcp-list" && r["gateway-mcp"] ? t.rps / r["gateway-mcp"].rps : undefined,
        storageTrips: t.storageTrips,
        n: t.n,
      };
    });
    out[key] = Object.fromEntries(
      ["rps", "p50", "p99", "added", "rpsVsFloor", "addedVsFloor", "listVsChat"].map((m) => [m, median(per.map((p) => p[m]))]),
    );
    out[key].storage_round_trips = per.some((p) => p.storageTrips !== undefined)
      ? `${per.reduce((s, p) => s + (p.storageTrips ?? 0), 0)} in ${per.reduce((s, p) => s + p.n, 0)} requests`
      : undefined;
    out[key].per_round = per;
  }
  return out;
}

export function render(summary, targets, { streaming, cold, bundle, loads, rounds, connections, durationS }) {
  const f = (x, d = 1) => (x === undefined ? "" : x.toFixed(d));
  const rows = targets.map(({ key, label }) => {
    const s = summary[key];
    return `${label.padEnd(42)}${f(s.rps, 0).padStart(8)}${f(s.p50, 2).padStart(9)}${f(s.p99, 2).padStart(9)}${f(key === "direct" ? undefined : s.added, 2).padStart(10)}${(s.rpsVsFloor === undefined ? "" : `${f(s.rpsVsFloor, 2)}x`).padStart(13)}${(s.addedVsFloor === undefined ? "" : `${f(s.addedVsFloor, 2)}x`).padStart(13)}`;
  });
  const goal = (ok) => (ok === undefined ? "n/a " : ok ? "MET " : "MISS");
  const g = (key) => summary[key] ?? {};
  const lines = [
    "",
    `medians over ${rounds} round(s); ${connections} connections, ${durationS} s per target; 1-min load average during the run: min ${f(Math.min(...loads))}, median ${f(median(loads))}, max ${f(Math.max(...loads))} on ${cpus().length} cores`,
    `${"target".padEnd(42)}${"req/s".padStart(8)}${"p50 ms".padStart(9)}${"p99 ms".padStart(9)}${"+p50 ms".padStart(10)}${"req/s÷floor".padStart(13)}${"+p50÷floor".padStart(13)}`,
    ...rows,
    "(+p50: p50 minus the direct call's p50; ÷floor: ratio to the floor of the same kind, within each round)",
    "",
    "goals:",
    `  ${goal(g("gateway-v1").rpsVsFloor === undefined ? undefined : g("gateway-v1").rpsVsFloor >= 0.8 && g("gateway-v1").addedVsFloor <= 1.25)} /v1 chat: req/s >= 0.8x floor (${f(g("gateway-v1").rpsVsFloor, 2)}x), added p50 <= 1.25x floor's (${f(g("gateway-v1").addedVsFloor, 2)}x)`,
    `  ${goal(g("gateway-mcp").rpsVsFloor === undefined ? undefined : g("gateway-mcp").rpsVsFloor >= 0.8 && g("gateway-mcp").addedVsFloor <= 1.25)} MCP chat: req/s >= 0.8x floor (${f(g("gateway-mcp").rpsVsFloor, 2)}x), added p50 <= 1.25x floor's (${f(g("gateway-mcp").addedVsFloor, 2)}x)`,
    `  ${goal(g("gateway-mcp-list").listVsChat === undefined ? undefined : g("gateway-mcp-list").listVsChat >= 2)} MCP tools/list: >= 2x the req/s of tools/call chat (${f(g("gateway-mcp-list").listVsChat, 2)}x)`,
    ...["gateway-v1", "gateway-mcp", "gateway-mcp-list"]
      .filter((k) => g(k).storage_round_trips)
      .map((k) => `       storage round trips, ${k} (warm; the snapshot is reloaded every 10 s): ${g(k).storage_round_trips}`),
  ];
  if (streaming) {
    const added = streaming.gateway.p50 - streaming.floor.p50;
    lines.push(
      `  ${goal(added <= 1)} streaming, time to first token: gateway ${f(streaming.gateway.p50, 2)} ms vs floor ${f(streaming.floor.p50, 2)} ms (+${f(added, 2)} ms; direct ${f(streaming.direct.p50, 2)} ms), p50 of ${streaming.gateway.n}`,
    );
  }
  if (cold) {
    lines.push(
      `       cold start (first request on a fresh isolate): ${Object.entries(cold)
        .map(([k, v]) => `${k} ${f(v.ms)} ms${v.storage_round_trips === undefined ? "" : ` (${v.storage_round_trips} storage round trip)`}`)
        .join(", ")}`,
    );
  }
  if (bundle) lines.push(`  ${goal(parseFloat(bundle.gzip) < 1024)} bundle < 1 MiB gzip: ${bundle.gzip} (${bundle.total} uncompressed)`);
  lines.push("");
  return lines.join("\n");
}
