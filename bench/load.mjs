/**
 * The load generator: requests on keep-alive connections, closed loop, every
 * answer checked, percentiles from every counted response.
 */
import { request as httpRequest, Agent } from "node:http";
import { summarize } from "./common.mjs";

const { Buffer } = globalThis;

/** Send one request and read the whole answer. */
export function send(target, agent, timeoutMs) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(target.url, { method: target.method ?? "POST", headers: target.headers, agent, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${target.url}: no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(target.body);
  });
}

/** The storage round trips a gateway answer reports in its Server-Timing header. */
export function storageTrips(headers) {
  const timing = String(headers["server-timing"] ?? "");
  const match = /storage;[^,]*dur=(\d+)/.exec(timing);
  return match ? Number(match[1]) : undefined;
}

/**
 * Closed-loop load: `connections` loops on keep-alive connections, each sending
 * its next request when the last one answered; only requests started after the
 * warm-up and answered before the end are counted.
 */
export async function load(target, { connections, warmupMs, durationMs, timeoutMs }) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const t0 = performance.now();
  const measureFrom = t0 + warmupMs;
  const end = measureFrom + durationMs;
  const samples = [];
  let trips = 0;
  let failure;
  const loop = async () => {
    while (failure === undefined) {
      const start = performance.now();
      if (start >= end) return;
      let answer;
      try {
        answer = await send(target, agent, timeoutMs);
      } catch (error) {
        failure = error;
        return;
      }
      const done = performance.now();
      if (answer.status < 200 || answer.status >= 300 || !target.check(answer.text)) {
        failure = new Error(`${target.key}: HTTP ${answer.status}: ${answer.text.slice(0, 400)}`);
        return;
      }
      if (start >= measureFrom && done <= end) {
        samples.push(done - start);
        if (target.gateway) trips += storageTrips(answer.headers) ?? 0;
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  agent.destroy();
  if (failure) throw failure;
  if (samples.length === 0) throw new Error(`${target.key}: no request completed within the measured window`);
  return { ...summarize(samples), rps: samples.length / (durationMs / 1000), ...(target.gateway && { storageTrips: trips }), samples_ms: samples };
}
