/**
 * A fake Ollama server on 127.0.0.1, speaking its real wire format
 * (https://docs.ollama.com/api): /api/chat and /api/generate (one JSON answer
 * with `stream: false`, NDJSON lines otherwise — Ollama streams by default),
 * /api/embed, /api/tags. A model that is not pulled gets Ollama's 404
 * `model "x" not found, try pulling it first`.
 *
 * Chat takes Ollama's tools, `format` ("json" or a JSON schema) and `images`
 * (base64), and answers tool calls as Ollama does: whole calls in
 * `message.tool_calls`, arguments as objects, done_reason "stop" (see ./fake-replies.ts).
 *
 * Replies are deterministic: chat answers "ollama: <last user message>", generate
 * answers "<prompt> …continued", both cut to `options.num_predict` words with
 * done_reason "length"; embeddings are 8 numbers derived from the text.
 *
 * Every Ollama path may be prefixed with /i/<instance> (as behind a reverse
 * proxy), so tests can script /api/tags — whose requests name no model —
 * without disturbing each other. Controls, over HTTP so workerd tests can use them:
 *   POST /__control/script {model, steps}          faults for that model's calls, used once each in order; marks it pulled
 *   POST /__control/tags {instance?, steps}        the same for /api/tags on that instance
 *   POST /__control/pull {model}                   declare a model pulled
 *   GET  /__control/requests?model=M&instance=I    what was received (method, path, headers, body), filtered
 *   POST /__control/reset
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { json, listen, readBody, safeJson, text } from "./fake-http.ts";
import { reply as fakeReply } from "./fake-replies.ts";

export type Step =
  | { kind: "status"; status: number; body?: unknown; retryAfter?: string }
  | { kind: "hang" }
  | { kind: "malformed" }
  | { kind: "break_stream"; afterLines: number }
  | { kind: "error_in_stream"; afterLines: number; message: string }
  /** A Cloudflare Access login page (HTML) instead of Ollama's JSON. */
  | { kind: "access_page"; status?: number }
  /** A redirect to the Cloudflare Access login, as Access sends to a request without a service token. */
  | { kind: "access_redirect" }
  /** An error whose message echoes the Access secret header back, as careless proxies do. */
  | { kind: "echo_headers"; status: number };

export interface Received {
  instance: string;
  model: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
}

const DEFAULT_PULLED = ["llama3.2:latest", "nomic-embed-text:latest", "qwen2.5:0.5b"];
const CREATED_AT = "2026-01-01T00:00:00.000000Z";

export async function startFakeOllama(): Promise<{ url: string; close(): Promise<void> }> {
  const scripts = new Map<string, Step[]>();
  const tagScripts = new Map<string, Step[]>();
  const pulled = new Set<string>();
  let received: Received[] = [];

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: String(error) }));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const raw = await readBody(req);
    const body = (raw ? safeJson(raw) : {}) as Record<string, unknown>;

    if (url.pathname.startsWith("/__control/")) return control(url, req.method ?? "GET", body, res);

    const [, instance = "", path = url.pathname] = /^\/i\/([^/]+)(\/.*)$/.exec(url.pathname) ?? [];
    const model = typeof body.model === "string" ? body.model : "";
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
    received.push({ instance, model, method: req.method ?? "GET", path, headers, body: raw ? body : undefined });

    const step = path === "/api/tags" ? tagScripts.get(instance)?.shift() : scripts.get(model)?.shift();
    if (step && fault(step, res, headers)) return;

    if (req.method === "GET" && path === "/") return text(res, 200, "Ollama is running");
    if (req.method === "GET" && path === "/api/tags") return json(res, 200, { models: [...DEFAULT_PULLED, ...pulled].map(tagEntry) });
    if (req.method !== "POST" || !["/api/chat", "/api/generate", "/api/embed"].includes(path)) return text(res, 404, "404 page not found");
    if (!isPulled(model)) return json(res, 404, { error: `model "${model}" not found, try pulling it first` });

    if (path === "/api/embed") {
      const inputs = Array.isArray(body.input) ? body.input.map(String) : [String(body.input)];
      return json(res, 200, { model, embeddings: inputs.map(embedding), total_duration: 1000, load_duration: 10, prompt_eval_count: inputs.length });
    }
    const chat = path === "/api/chat";
    const messages = (Array.isArray(body.messages) ? body.messages : []) as { role: string; content: string; images?: string[] }[];
    const prompt = chat ? ([...messages].reverse().find((m) => m.role === "user")?.content ?? "") : String(body.prompt ?? "");
    const answer = chat
      ? fakeReply(
          {
            messages,
            tools: ((body.tools ?? []) as { function: { name: string; parameters?: object } }[]).map((t) => t.function),
            json: body.format === "json" ? "json" : body.format && typeof body.format === "object" ? body.format : undefined,
            images: [...messages].reverse().find((m) => m.role === "user")?.images?.length,
          },
          "ollama: ",
        )
      : { text: `${prompt} …continued` };
    if (answer.toolCalls) {
      const message = {
        role: "assistant",
        content: "",
        tool_calls: answer.toolCalls.map((c) => ({ function: { name: c.name, arguments: c.arguments } })),
      };
      const last = { message: { role: "assistant", content: "" }, done: true, done_reason: "stop", ...counts(prompt, "call") };
      if (body.stream === false) return json(res, 200, { model, created_at: CREATED_AT, ...last, message });
      return stream(res, model, [{ message }], last, step);
    }
    const reply = limit(answer.text, (body.options as { num_predict?: unknown } | undefined)?.num_predict);
    const piece = (delta: string) => (chat ? { message: { role: "assistant", content: delta } } : { response: delta });
    const last = { ...piece(""), done: true, done_reason: reply.reason, ...counts(prompt, reply.text) };
    // Ollama streams unless the request says `stream: false`.
    if (body.stream === false) return json(res, 200, { model, created_at: CREATED_AT, ...last, ...piece(reply.text) });
    return stream(res, model, reply.text.split(/(?<= )/).map(piece), last, step);
  }

  function isPulled(model: string): boolean {
    return DEFAULT_PULLED.includes(tagged(model)) || pulled.has(tagged(model));
  }

  function control(url: URL, method: string, body: Record<string, unknown>, res: ServerResponse) {
    if (url.pathname === "/__control/script" && method === "POST") {
      scripts.set(String(body.model), [...(body.steps as Step[])]);
      pulled.add(tagged(String(body.model)));
    } else if (url.pathname === "/__control/tags" && method === "POST") {
      tagScripts.set(String(body.instance ?? ""), [...(body.steps as Step[])]);
    } else if (url.pathname === "/__control/pull" && method === "POST") {
      pulled.add(tagged(String(body.model)));
    } else if (url.pathname === "/__control/requests") {
      const model = url.searchParams.get("model");
      const instance = url.searchParams.get("instance");
      const requests = received.filter((r) => (model === null || r.model === model) && (instance === null || r.instance === instance));
      return json(res, 200, { requests });
    } else if (url.pathname === "/__control/reset" && method === "POST") {
      scripts.clear();
      tagScripts.clear();
      pulled.clear();
      received = [];
    } else {
      return json(res, 404, { error: `unknown control ${url.pathname}` });
    }
    return json(res, 200, { ok: true });
  }

  return listen(server);
}

/** Ollama's default tag: "llama3.2" is "llama3.2:latest". */
function tagged(model: string): string {
  return model.includes(":") ? model : `${model}:latest`;
}

/** Answer a scripted fault; returns false for steps that act later, inside a stream. */
function fault(step: Step, res: ServerResponse, headers: Record<string, string>): boolean {
  switch (step.kind) {
    case "status":
      json(res, step.status, step.body ?? { error: `scripted ${step.status}` }, step.retryAfter ? { "retry-after": step.retryAfter } : {});
      return true;
    case "hang":
      return true; // never answer: the client's timeout must fire
    case "malformed":
      res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
      res.end("{not json");
      return true;
    case "access_page":
      res.writeHead(step.status ?? 200, { "content-type": "text/html; charset=utf-8" });
      res.end("<!DOCTYPE html><html><head><title>Sign in ・ Cloudflare Access</title></head><body>Sign in</body></html>");
      return true;
    case "access_redirect":
      res.writeHead(302, {
        location: "https://myteam.cloudflareaccess.com/cdn-cgi/access/login/ollama.example.com?kid=abc&redirect_url=%2Fapi%2Ftags",
      });
      res.end();
      return true;
    case "echo_headers":
      json(res, step.status, { error: `access denied for service token ${headers["cf-access-client-secret"] ?? ""}` });
      return true;
    default:
      return false;
  }
}

async function stream(res: ServerResponse, model: string, pieces: object[], last: object, step: Step | undefined) {
  res.writeHead(200, { "content-type": "application/x-ndjson" });
  const line = (payload: object) =>
    new Promise<void>((resolve) => res.write(`${JSON.stringify({ model, created_at: CREATED_AT, ...payload })}\n`, () => resolve()));
  for (const [i, piece] of pieces.entries()) {
    if (step?.kind === "break_stream" && i === step.afterLines) {
      await new Promise((r) => setTimeout(r, 20)); // let the client receive what was sent
      res.socket?.destroy(); // then the connection is lost mid-stream
      return;
    }
    if (step?.kind === "error_in_stream" && i === step.afterLines) {
      res.end(`${JSON.stringify({ error: step.message })}\n`); // how Ollama reports a failure after streaming started
      return;
    }
    await line({ ...piece, done: false });
  }
  await line(last);
  res.end();
}

/** Answer `numPredict` words at most, saying "length" when cut. */
function limit(reply: string, numPredict: unknown): { text: string; reason: "stop" | "length" } {
  const words = reply.split(" ");
  if (typeof numPredict === "number" && words.length > numPredict) return { text: words.slice(0, numPredict).join(" "), reason: "length" };
  return { text: reply, reason: "stop" };
}

function counts(prompt: string, reply: string) {
  const words = (s: string) => s.split(/\s+/).filter(Boolean).length;
  return { total_duration: 5000, load_duration: 100, prompt_eval_count: words(prompt), eval_count: words(reply), eval_duration: 4000 };
}

function tagEntry(name: string) {
  return {
    name,
    model: name,
    modified_at: CREATED_AT,
    size: 2019393189,
    digest: "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
    details: { format: "gguf", family: "llama", parameter_size: "3.2B", quantization_level: "Q4_K_M" },
  };
}

/** A small deterministic vector: the same text always gives the same embedding. */
function embedding(input: string): number[] {
  const v = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < input.length; i++) v[i % 8]! += input.charCodeAt(i) / 1000;
  return v.map((x) => Math.round(x * 1e6) / 1e6);
}
