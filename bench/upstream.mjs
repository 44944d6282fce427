/**
 * The benchmark's upstreams, in their own process so that serving them does not
 * compete with the load generator's event loop:
 *   - the fake OpenAI-compatible upstream of the tests (answers at once);
 *   - a token-paced one for streaming: `POST /v1/chat/completions` with
 *     `stream: true` sends the role chunk at once, then BENCH_STREAM_TOKENS
 *     tokens, one every BENCH_STREAM_PACE_MS (the first one after one pace, as a
 *     model's first token comes after its prompt is read).
 * Prints one JSON line with both URLs, then serves until stdin closes or a signal.
 */
import { createServer } from "node:http";
import { startFakeOpenAI } from "../tests/support/fake-openai.ts";

const { Buffer } = globalThis;

const PACE_MS = Number(process.env.BENCH_STREAM_PACE_MS ?? 20);
const TOKENS = Number(process.env.BENCH_STREAM_TOKENS ?? 5);

function startPaced() {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      if (req.method === "GET") {
        // The model list the gateway's health checks read (`GET <base_url>/models`).
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ object: "list", data: [{ id: "paced", object: "model", created: 1700000000, owned_by: "bench" }] }));
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
      const model = body.model ?? "paced";
      const frame = (delta, finish = null) =>
        `data: ${JSON.stringify({ id: "paced", object: "chat.completion.chunk", created: 1700000000, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      if (!body.stream) {
        res.writeHead(200, { "content-type": "application/json" });
        const message = { role: "assistant", content: Array.from({ length: TOKENS }, (_, i) => `t${i} `).join("") };
        res.end(
          JSON.stringify({
            id: "paced",
            object: "chat.completion",
            created: 1700000000,
            model,
            choices: [{ index: 0, message, finish_reason: "stop" }],
          }),
        );
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      res.write(frame({ role: "assistant", content: "" }));
      for (let i = 0; i < TOKENS; i++) {
        await new Promise((r) => setTimeout(r, PACE_MS));
        res.write(frame({ content: `t${i} ` }));
      }
      res.write(frame({}, "stop"));
      res.end("data: [DONE]\n\n");
    });
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ url: `http://127.0.0.1:${server.address().port}`, server })));
}

const fake = await startFakeOpenAI();
const paced = await startPaced();
console.log(JSON.stringify({ openai: fake.url, paced: paced.url }));

const stop = async () => {
  paced.server.close();
  await fake.close().catch(() => {});
  process.exit(0);
};
process.stdin.on("end", stop);
process.stdin.resume();
for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, stop);
