/** `npm run bench -- --profile=<target>`: the Worker's CPU profile under load. */
import { mkdir, writeFile } from "node:fs/promises";
import { load } from "./load.mjs";

const { WebSocket } = globalThis;

/**
 * The Worker's CPU profile while under load, through the inspector `wrangler dev`
 * exposes (Chrome DevTools protocol): written as a .cpuprofile (open it in
 * Chrome DevTools or VS Code), and its heaviest functions printed, by self time
 * and by total time.
 */
export async function profile(target, dev, options, resultsDir) {
  const list = await (await fetch(`http://127.0.0.1:${dev.inspectorPort}/json`)).json();
  const page = list.find((t) => t.webSocketDebuggerUrl && !/ProxyWorker|UserWorker.*internal/i.test(t.title ?? "")) ?? list[0];
  // The inspector accepts local origins only; Node's WebSocket sends none unless told.
  const socket = new WebSocket(page.webSocketDebuggerUrl, { headers: { origin: "http://127.0.0.1" } });
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let id = 0;
  const pending = new Map();
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.id !== undefined && pending.has(message.id)) {
      pending.get(message.id)(message);
      pending.delete(message.id);
    }
  };
  const cdp = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const n = ++id;
      pending.set(n, (m) => (m.error ? reject(new Error(`${method}: ${m.error.message}`)) : resolve(m.result)));
      socket.send(JSON.stringify({ id: n, method, params }));
    });
  await cdp("Profiler.enable");
  await cdp("Profiler.setSamplingInterval", { interval: 100 });
  // Warm up without the profiler, then profile the measured window only.
  await load(target, { ...options, durationMs: Math.max(1000, options.warmupMs), warmupMs: 0 });
  await cdp("Profiler.start");
  const result = await load(target, { ...options, warmupMs: 0 });
  const { profile: cpu } = await cdp("Profiler.stop");
  socket.close();
  await mkdir(resultsDir, { recursive: true });
  const file = `${resultsDir}${target.key}-${new Date().toISOString().replace(/[:.]/g, "-")}.cpuprofile`;
  await writeFile(file, JSON.stringify(cpu));

  const byId = new Map(cpu.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of cpu.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map();
  for (const sample of cpu.samples) self.set(sample, (self.get(sample) ?? 0) + 1);
  const name = (n) => `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.split("/").slice(-2).join("/")}:${n.callFrame.lineNumber + 1}`;
  const selfBy = new Map();
  const totalBy = new Map();
  let total = 0;
  for (const [nodeId, count] of self) {
    total += count;
    const node = byId.get(nodeId);
    selfBy.set(name(node), (selfBy.get(name(node)) ?? 0) + count);
    const seen = new Set();
    for (let at = nodeId; at !== undefined; at = parent.get(at)) {
      const key = name(byId.get(at));
      if (seen.has(key)) continue;
      seen.add(key);
      totalBy.set(key, (totalBy.get(key) ?? 0) + count);
    }
  }
  const idle = [...self]
    .filter(([nodeId]) => /^\((idle|program|garbage collector)\)$/.test(byId.get(nodeId).callFrame.functionName))
    .reduce((s, [, c]) => s + c, 0);
  const top = (map, n) =>
    [...map]
      .filter(([k]) => !/^\((idle|root|program)\)/.test(k))
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, c]) => `  ${((100 * c) / total).toFixed(1).padStart(5)}%  ${k}`);
  const perRequestMs = (((cpu.endTime - cpu.startTime) / 1000) * ((total - idle) / total)) / result.n;
  console.log(
    [
      "",
      `${target.key}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50.toFixed(2)} ms; busy ${((100 * (total - idle)) / total).toFixed(0)}% of samples, about ${perRequestMs.toFixed(2)} ms of isolate CPU per request`,
      "by self time:",
      ...top(selfBy, 25),
      "by total time (inclusive):",
      ...top(totalBy, 40),
      `profile written to ${file}`,
    ].join("\n"),
  );
}
