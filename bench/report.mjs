/** The load mode's table: medians over rounds, ratios to the floors (and the baseline), and whether each speed goal is met. */
import { cpus } from "node:os";

function median(values) {
  const sorted = values.filter((v) => v !== undefined && Number.isFinite(v)).sort((x, y) => x - y);
  if (sorted.length === 0) return undefined;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * What each row is compared with: the plain floor of its kind, the rate-limited
 * floor (the same Worker calling a Rate Limiting binding once per request, as the
 * gateway does), and for the gateway the baseline (the gateway of BENCH_BASELINE_DIR).
 * The rate-limited floors against the plain ones: what the binding alone costs.
 */
const COMPARED_WITH = {
  "floor-v1-rl": ["floor-v1"],
  "floor-mcp-rl": ["floor-mcp"],
  "gateway-v1": ["floor-v1", "floor-v1-rl", "baseline-v1"],
  // The agents' wire formats against /v1/chat/completions of the same gateway, in the same round.
  "gateway-messages": ["gateway-v1", "floor-v1-rl"],
  "gateway-responses": ["gateway-v1", "floor-v1-rl"],
  "gateway-mcp": ["floor-mcp", "floor-mcp-rl", "baseline-mcp"],
  "gateway-mcp-list": ["floor-mcp-list", "baseline-mcp-list"],
  "baseline-v1": ["floor-v1-rl"],
  "baseline-mcp": ["floor-mcp-rl"],
  "baseline-mcp-list": ["floor-mcp-list"],
};

/**
 * Per target, the median over rounds of req/s, p50 and p99, of the p50 added over
 * the direct call, and of the ratios to what it is compared with (`vs[other]`:
 * req/s ÷ other's req/s and added p50 ÷ other's added p50), computed within each round.
 */
export function summarizeRounds(rounds, targets) {
  const out = {};
  for (const { key } of targets) {
    const others = (COMPARED_WITH[key] ?? []).filter((other) => rounds.every((r) => r[other]));
    const per = rounds.map((r) => {
      const t = r[key];
      const direct = r.direct;
      const added = direct ? t.p50 - direct.p50 : undefined;
      const vs = Object.fromEntries(
        others.map((other) => {
          const otherAdded = direct ? r[other].p50 - direct.p50 : undefined;
          return [other, { rps: t.rps / r[other].rps, added: added !== undefined && otherAdded ? added / otherAdded : undefined }];
        }),
      );
      return {
        rps: t.rps,
        p50: t.p50,
        p99: t.p99,
        added,
        vs,
        listVsChat: key === "gateway-mcp-list" && r["gateway-mcp"] ? t.rps / r["gateway-mcp"].rps : undefined,
        storageTrips: t.storageTrips,
        n: t.n,
      };
    });
    out[key] = Object.fromEntries(["rps", "p50", "p99", "added", "listVsChat"].map((m) => [m, median(per.map((p) => p[m]))]));
    out[key].vs = Object.fromEntries(
      others.map((other) => [other, { rps: median(per.map((p) => p.vs[other].rps)), added: median(per.map((p) => p.vs[other].added)) }]),
    );
    out[key].storage_round_trips = per.some((p) => p.storageTrips !== undefined)
      ? `${per.reduce((s, p) => s + (p.storageTrips ?? 0), 0)} in ${per.reduce((s, p) => s + p.n, 0)} requests`
      : undefined;
    out[key].per_round = per;
  }
  return out;
}

/**
 * The speed goals against the rate-limited floors, which do what the gateway does on
 * every authenticated request (one Rate Limiting binding call, which `wrangler dev`
 * simulates at a cost of its own): req/s at least `rps` times the floor's. Against
 * the plain floors there is no goal any more (it was >= 0.8x req/s and <= 1.25x
 * added p50): the binding alone takes a Worker below 0.8x of the plain floor.
 */
const GOALS = [
  { name: "/v1 chat", key: "gateway-v1", floor: "floor-v1-rl", plain: "floor-v1", rps: 0.95 },
  { name: "MCP chat", key: "gateway-mcp", floor: "floor-mcp-rl", plain: "floor-mcp", rps: 1.0 },
];

export function render(summary, targets, { streaming, cold, bundle, loads, rounds, connections, durationS, baseline }) {
  const f = (x, d = 1) => (x === undefined ? "" : x.toFixed(d));
  const x = (ratio) => (ratio === undefined ? "n/a" : `${f(ratio, 2)}x`);
  const rows = targets.map(({ key, label }) => {
    const s = summary[key];
    return `${label.padEnd(44)}${f(s.rps, 0).padStart(8)}${f(s.p50, 2).padStart(9)}${f(s.p99, 2).padStart(9)}${f(key === "direct" ? undefined : s.added, 2).padStart(10)}`;
  });
  const ratios = targets.flatMap(({ key }) =>
    Object.entries(summary[key].vs ?? {}).map(([other, r]) => `${`${key} ÷ ${other}`.padEnd(44)}${x(r.rps).padStart(8)}${x(r.added).padStart(9)}`),
  );
  const goal = (ok) => (ok === undefined ? "n/a " : ok ? "MET " : "MISS");
  const g = (key) => summary[key] ?? {};
  const goalLine = ({ name, key, floor, plain, rps }) => {
    const r = g(key).vs?.[floor];
    const p = g(key).vs?.[plain];
    const reference = p ? `; against ${plain}, no goal: ${x(p.rps)} req/s, ${x(p.added)} added p50` : "";
    return `  ${goal(r && r.rps >= rps)} ${name}: req/s >= ${f(rps, 2)}x ${floor} (${x(r?.rps)}, added p50 ${x(r?.added)})${reference}`;
  };
  const lines = [
    "",
    `medians over ${rounds} round(s); ${connections} connections, ${durationS} s per target; 1-min load average during the run: min ${f(Math.min(...loads))}, median ${f(median(loads))}, max ${f(Math.max(...loads))} on ${cpus().length} cores`,
    ...(baseline ? [`baseline-*: the gateway of ${baseline.dir} (${baseline.describe}); gateway-*: this checkout (${baseline.self})`] : []),
    `${"target".padEnd(44)}${"req/s".padStart(8)}${"p50 ms".padStart(9)}${"p99 ms".padStart(9)}${"+p50 ms".padStart(10)}`,
    ...rows,
    "(+p50: p50 minus the direct call's p50)",
    ...(ratios.length
      ? [
          "",
          `${"ratios, within each round (median)".padEnd(44)}${"req/s".padStart(8)}${"+p50".padStart(9)}`,
          ...ratios,
          "(-rl: the floor calling a Rate Limiting binding once per request, as the gateway does; +p50: ratio of the p50s added over the direct call)",
        ]
      : []),
    "",
    "goals:",
    ...GOALS.map(goalLine),
    `  ${goal(g("gateway-mcp-list").listVsChat === undefined ? undefined : g("gateway-mcp-list").listVsChat >= 2)} MCP tools/list: >= 2x the req/s of tools/call chat (${x(g("gateway-mcp-list").listVsChat)})`,
    ...["gateway-v1", "gateway-mcp", "gateway-mcp-list", "baseline-v1", "baseline-mcp", "baseline-mcp-list"]
      .filter((k) => g(k).storage_round_trips)
      .map((k) => `       storage round trips, ${k} (warm; the snapshot is reloaded every 10 s): ${g(k).storage_round_trips}`),
  ];
  if (streaming) {
    const added = streaming.gateway.p50 - streaming.floor.p50;
    const base = streaming.baseline ? `, baseline ${f(streaming.baseline.p50, 2)} ms` : "";
    lines.push(
      `  ${goal(added <= 1)} streaming, time to first token: gateway ${f(streaming.gateway.p50, 2)} ms vs floor ${f(streaming.floor.p50, 2)} ms (+${f(added, 2)} ms; direct ${f(streaming.direct.p50, 2)} ms${base}), p50 of ${streaming.gateway.n}`,
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
  if (bundle?.baseline) lines.push(`       bundle, baseline: ${bundle.baseline.gzip} gzip (${bundle.baseline.total} uncompressed)`);
  lines.push("");
  return lines.join("\n");
}
