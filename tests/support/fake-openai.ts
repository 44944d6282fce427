/**
 * A fake OpenAI-compatible upstream on 127.0.0.1, speaking the real wire format
 * (https://platform.openai.com/docs/api-reference): /v1/chat/completions and
 * /v1/completions (JSON, or SSE with `stream: true`), /v1/embeddings, /v1/models.
 *
 * Replies are deterministic: chat answers "echo: <last user message>", a
 * completion answers "<prompt> …continued", embeddings are derived from the text.
 * Tools, JSON mode and images follow OpenAI's wire shapes (see `chatReply` in
 * ./fake-replies.ts): offered tools are called (streamed as `delta.tool_calls`:
 * id and name first, then the arguments in fragments), tool results are
 * answered, `response_format` gets JSON, image parts are counted.
 *
 * Faults are scripted per upstream model name over HTTP, so tests running in
 * workerd can drive it too:
 *   POST /__control/script {model, steps: [Step, ...]}   steps are used once each, in order
 *   GET  /__control/requests?model=NAME                   what the fake received (headers, bodies)
 *   POST /__control/reset
 * and images for the gateway to fetch (backends that take image bytes):
 *   GET /__fixtures/pixel.png   a 1x1 PNG;  /__fixtures/page.html  not an image;  /__fixtures/huge.png  over 10 MiB
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { type FakeServer, json, listen, readBody, safeJson } from "./fake-http.ts";
import { chatReply, type FakeToolCall } from "./fake-replies.ts";

export type Step =
  | { kind: "status"; status: number; body?: unknown; retryAfter?: string }
  | { kind: "hang" }
  | { kind: "malformed" }
  | { kind: "break_stream"; afterChunks: number }
  | { kind: "echo_auth"; status: number }
  | { kind: "slow_stream"; delayMs: number }
  | { kind: "delay"; ms: number };

export interface Received {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

export async function startFakeOpenAI(port = 0): Promise<FakeServer> {
  const scripts = new Map<string, Step[]>();
  const received = new Map<string, Received[]>();

  const server: Server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: String(error), type: "server_error" } }));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const raw = await readBody(req);
    const body: unknown = raw ? safeJson(raw) : undefined;

    if (url.pathname === "/__control/script" && req.method === "POST") {
      const { model, steps } = body as { model: string; steps: Step[] };
      scripts.set(model, [...steps]);
      return json(res, 200, { ok: true });
    }
    if (url.pathname === "/__control/requests") {
      return json(res, 200, { requests: received.get(url.searchParams.get("model") ?? "") ?? [] });
    }
    if (url.pathname.startsWith("/__fixtures/")) return fixture(url.pathname, res);
    if (url.pathname === "/__control/reset") {
      scripts.clear();
      received.clear();
      return json(res, 200, { ok: true });
    }

    const model = typeof (body as { model?: unknown })?.model === "string" ? (body as { model: string }).model : "";
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
    const log = received.get(model) ?? [];
    log.push({ method: req.method ?? "GET", path: url.pathname, headers, body });
    received.set(model, log);

    if (req.method === "GET" && url.pathname === "/v1/models") {
      return json(res, 200, {
        object: "list",
        data: ["gpt-fake", "fake-embed", ...scripts.keys()].map((id) => ({ id, object: "model", created: 1700000000, owned_by: "fake" })),
      });
    }

    const step = scripts.get(model)?.shift();
    if (step?.kind === "status") {
      const extra: Record<string, string> = step.retryAfter ? { "retry-after": step.retryAfter } : {};
      return json(res, step.status, step.body ?? { error: { message: `scripted ${step.status}`, type: "fake" } }, extra);
    }
    if (step?.kind === "hang") return; // never answer; the client's timeout must fire
    if (step?.kind === "malformed") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end("{not json");
    }
    if (step?.kind === "echo_auth") {
      return json(res, step.status, {
        error: { message: `Invalid API key provided: ${headers.authorization ?? ""}`, type: "invalid_request_error" },
      });
    }

    if (step?.kind === "delay") await new Promise((r) => setTimeout(r, step.ms)); // then answer normally
    const request = (body ?? {}) as Record<string, unknown>;
    if (req.method === "POST" && url.pathname === "/v1/chat/completions") {
      const messages = (request.messages ?? []) as unknown[];
      const reply = chatReply(request);
      if (reply.toolCalls) {
        const calls = reply.toolCalls.map((c) => ({
          id: c.id,
          type: "function",
          function: { name: c.name, arguments: JSON.stringify(c.arguments) },
        }));
        if (request.stream) return streamToolCalls(res, model, calls);
        return json(res, 200, {
          id: "chatcmpl-fake",
          object: "chat.completion",
          created: 1700000000,
          model,
          choices: [{ index: 0, message: { role: "assistant", content: null, tool_calls: calls }, finish_reason: "tool_calls", logprobs: null }],
          usage: usage(JSON.stringify(messages), JSON.stringify(calls)),
        });
      }
      const text = reply.json ? { value: reply.text, finish: "stop" as const } : limit(reply.text, request.max_tokens);
      if (request.stream) return stream(res, model, text, "chat", step);
      return json(res, 200, {
        id: "chatcmpl-fake",
        object: "chat.completion",
        created: 1700000000,
        model,
        choices: [{ index: 0, message: { role: "assistant", content: text.value }, finish_reason: text.finish, logprobs: null }],
        usage: usage(JSON.stringify(messages), text.value),
      });
    }
    if (req.method === "POST" && url.pathname === "/v1/completions") {
      const prompt = String(request.prompt ?? "");
      const text = limit(`${prompt} …continued`, request.max_tokens);
      if (request.stream) return stream(res, model, text, "completion", step);
      return json(res, 200, {
        id: "cmpl-fake",
        object: "text_completion",
        created: 1700000000,
        model,
        choices: [{ index: 0, text: text.value, finish_reason: text.finish, logprobs: null }],
        usage: usage(prompt, text.value),
      });
    }
    if (req.method === "POST" && url.pathname === "/v1/embeddings") {
      const inputs = Array.isArray(request.input) ? (request.input as string[]) : [String(request.input)];
      return json(res, 200, {
        object: "list",
        model,
        data: inputs.map((text, index) => ({ object: "embedding", index, embedding: embedding(text) })),
        usage: { prompt_tokens: inputs.join(" ").split(/\s+/).length, total_tokens: inputs.join(" ").split(/\s+/).length },
      });
    }
    return json(res, 404, { error: { message: `Unknown path ${url.pathname}`, type: "invalid_request_error" } });
  }

  return listen(server, port);
}

/** A 1x1 transparent PNG. */
export const PIXEL_PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

function fixture(path: string, res: ServerResponse) {
  if (path === "/__fixtures/pixel.png") {
    res.writeHead(200, { "content-type": "image/png" });
    return res.end(Buffer.from(PIXEL_PNG_BASE64, "base64"));
  }
  if (path === "/__fixtures/huge.png") {
    res.writeHead(200, { "content-type": "image/png" });
    return res.end(Buffer.alloc(10 * 1024 * 1024 + 1));
  }
  res.writeHead(200, { "content-type": "text/html" });
  res.end("<html>not an image</html>");
}

/** Answer `max_tokens` words at most, saying "length" when cut. */
function limit(text: string, maxTokens: unknown): { value: string; finish: "stop" | "length" } {
  const words = text.split(" ");
  if (typeof maxTokens === "number" && words.length > maxTokens) {
    return { value: words.slice(0, maxTokens).join(" "), finish: "length" };
  }
  return { value: text, finish: "stop" };
}

async function stream(
  res: ServerResponse,
  model: string,
  text: { value: string; finish: string },
  kind: "chat" | "completion",
  step: Step | undefined,
) {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  const pieces = text.value.split(/(?<= )/);
  const chunk = (payload: Record<string, unknown>) =>
    new Promise<void>((resolve) =>
      res.write(
        `data: ${JSON.stringify({ id: "fake-stream", object: kind === "chat" ? "chat.completion.chunk" : "text_completion", created: 1700000000, model, ...payload })}\n\n`,
        () => resolve(),
      ),
    );
  if (kind === "chat") await chunk({ choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] });
  for (const [i, piece] of pieces.entries()) {
    if (step?.kind === "break_stream" && i === step.afterChunks) {
      await new Promise((r) => setTimeout(r, 20)); // let the client receive what was sent
      res.socket?.destroy(); // then the connection is lost mid-stream
      return;
    }
    if (step?.kind === "slow_stream") await new Promise((r) => setTimeout(r, step.delayMs));
    await chunk({
      choices: [kind === "chat" ? { index: 0, delta: { content: piece }, finish_reason: null } : { index: 0, text: piece, finish_reason: null }],
    });
  }
  await chunk({
    choices: [kind === "chat" ? { index: 0, delta: {}, finish_reason: text.finish } : { index: 0, text: "", finish_reason: text.finish }],
  });
  await chunk({ choices: [], usage: usage("", text.value) });
  res.write("data: [DONE]\n\n");
  res.end();
}

/** Tool calls streamed as OpenAI streams them: per call, index + id + name first, then the arguments in two fragments. */
async function streamToolCalls(res: ServerResponse, model: string, calls: { id: string; function: { name: string; arguments: string } }[]) {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  const chunk = (payload: Record<string, unknown>) =>
    new Promise<void>((resolve) =>
      res.write(`data: ${JSON.stringify({ id: "fake-stream", object: "chat.completion.chunk", created: 1700000000, model, ...payload })}\n\n`, () =>
        resolve(),
      ),
    );
  const delta = (d: Record<string, unknown>, finish: string | null = null) => chunk({ choices: [{ index: 0, delta: d, finish_reason: finish }] });
  await delta({ role: "assistant", content: null });
  for (const [index, call] of calls.entries()) {
    await delta({ tool_calls: [{ index, id: call.id, type: "function", function: { name: call.function.name, arguments: "" } }] });
    const half = Math.ceil(call.function.arguments.length / 2);
    for (const part of [call.function.arguments.slice(0, half), call.function.arguments.slice(half)]) {
      await delta({ tool_calls: [{ index, function: { arguments: part } }] });
    }
  }
  await delta({}, "tool_calls");
  await chunk({ choices: [], usage: usage("", JSON.stringify(calls)) });
  res.write("data: [DONE]\n\n");
  res.end();
}

export type { FakeToolCall };

function usage(prompt: string, completion: string) {
  const p = prompt.split(/\s+/).filter(Boolean).length;
  const c = completion.split(/\s+/).filter(Boolean).length;
  return { prompt_tokens: p, completion_tokens: c, total_tokens: p + c };
}

/** A small deterministic vector: the same text always gives the same embedding. */
function embedding(text: string): number[] {
  const v = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < text.length; i++) v[i % 8]! += text.charCodeAt(i) / 1000;
  return v.map((x) => Math.round(x * 1e6) / 1e6);
}
