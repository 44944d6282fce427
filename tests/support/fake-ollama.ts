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
 * without disturbing each other. The control API of fake-control.ts, plus:
 *   POST /__control/script {model, steps}          as everywhere, and marks the model pulled
 *   POST /__control/tags {instance?, steps}        faults for /api/tags on that instance
 *   POST /__control/pull {model}                   declare a model pulled
 * Quirks (fake-control.ts): `tools: "refuse"` answers Ollama's 400 for a model
 * without tools (`registry.ollama.ai/library/gemma:2b does not support tools`);
 * "ignore" answers text. Ollama takes `format` with every model, so `json` is
 * always ignored (plain text), never refused.
 * Requests are recorded under {instance, model}: filter on either.
 */
import type { ServerResponse } from "node:http";
import { answerCommonFault, type CommonStep, FakeControl } from "./fake-control.ts";
import { dropConnection, type FakeServer, json, serve, text } from "./fake-http.ts";
import { reply as fakeReply } from "./fake-replies.ts";
import { fakeVector8 } from "./fake-vectors.js";

export type Step =
  | CommonStep
  | { kind: "break_stream"; afterLines: number }
  | { kind: "error_in_stream"; afterLines: number; message: string }
  /** A Cloudflare Access login page (HTML) instead of Ollama's JSON. */
  | { kind: "access_page"; status?: number }
  /** A redirect to the Cloudflare Access login, as Access sends to a request without a service token. */
  | { kind: "access_redirect" }
  /** An error whose message echoes the Access secret header back, as careless proxies do. */
  | { kind: "echo_headers"; status: number };

const DEFAULT_PULLED = ["llama3.2:latest", "nomic-embed-text:latest", "qwen2.5:0.5b"];
const CREATED_AT = "2026-01-01T00:00:00.000000Z";
/** Scripts for /api/tags are kept under this prefix and the instance (no model name has a space). */
const TAGS = "tags ";

export function startFakeOllama(): Promise<FakeServer> {
  const pulled = new Set<string>();
  const control: FakeControl<Step> = new FakeControl<Step>(
    {
      script: (body) => {
        control.setScript(String(body.model), body.steps as Step[]);
        pulled.add(tagged(String(body.model)));
      },
      tags: (body) => control.setScript(TAGS + String(body.instance ?? ""), body.steps as Step[]),
      pull: (body) => void pulled.add(tagged(String(body.model))),
    },
    () => pulled.clear(),
  );

  return serve((request, res) => {
    if (control.handle(request, res)) return;
    const { method, url, headers, fields: body } = request;
    const [, instance = "", path = url.pathname] = /^\/i\/([^/]+)(\/.*)$/.exec(url.pathname) ?? [];
    const model = typeof body.model === "string" ? body.model : "";
    control.record(request, { instance, model }, path);

    const step = control.next(path === "/api/tags" ? TAGS + instance : model);
    if (answerCommonFault(res, step, (status) => ({ error: `scripted ${status}` })) || (step && fault(step, res, headers))) return;

    if (method === "GET" && path === "/") return text(res, 200, "Ollama is running");
    if (method === "GET" && path === "/api/tags") return json(res, 200, { models: [...DEFAULT_PULLED, ...pulled].map(tagEntry) });
    if (method !== "POST" || !["/api/chat", "/api/generate", "/api/embed"].includes(path)) return text(res, 404, "404 page not found");
    if (!isPulled(model)) return json(res, 404, { error: `model "${model}" not found, try pulling it first` });

    if (path === "/api/embed") {
      const inputs = Array.isArray(body.input) ? body.input.map(String) : [String(body.input)];
      return json(res, 200, {
        model,
        embeddings: inputs.map(fakeVector8),
        total_duration: 1000,
        load_duration: 10,
        prompt_eval_count: inputs.length,
      });
    }
    const chat = path === "/api/chat";
    const quirks = control.quirks(model);
    const tools = quirks.tools ? [] : ((body.tools ?? []) as { function: { name: string; parameters?: object } }[]);
    if (chat && quirks.tools === "refuse" && Array.isArray(body.tools) && body.tools.length > 0) {
      return json(res, 400, { error: `registry.ollama.ai/library/${tagged(model)} does not support tools` });
    }
    const format = quirks.json ? undefined : body.format;
    const messages = (Array.isArray(body.messages) ? body.messages : []) as { role: string; content: string; images?: string[] }[];
    const prompt = chat ? ([...messages].reverse().find((m) => m.role === "user")?.content ?? "") : String(body.prompt ?? "");
    const answer = chat
      ? fakeReply(
          {
            messages,
            tools: tools.map((t) => t.function),
            json: format === "json" ? "json" : format && typeof format === "object" ? format : undefined,
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
      const done = { message: { role: "assistant", content: "" }, done: true, done_reason: "stop", ...counts(prompt, "call") };
      if (body.stream === false) return json(res, 200, { model, created_at: CREATED_AT, ...done, message });
      return stream(res, model, [{ message }], done, step);
    }
    const reply = limit(answer.text, (body.options as { num_predict?: unknown } | undefined)?.num_predict);
    const piece = (delta: string) => (chat ? { message: { role: "assistant", content: delta } } : { response: delta });
    const last = { ...piece(""), done: true, done_reason: reply.reason, ...counts(prompt, reply.text) };
    // Ollama streams unless the request says `stream: false`.
    if (body.stream === false) return json(res, 200, { model, created_at: CREATED_AT, ...last, ...piece(reply.text) });
    return stream(res, model, reply.text.split(/(?<= )/).map(piece), last, step);
  });

  function isPulled(model: string): boolean {
    return DEFAULT_PULLED.includes(tagged(model)) || pulled.has(tagged(model));
  }
}

/** Ollama's default tag: "llama3.2" is "llama3.2:latest". */
function tagged(model: string): string {
  return model.includes(":") ? model : `${model}:latest`;
}

/** Answer an Ollama-only scripted fault; returns false for steps that act later, inside a stream. */
function fault(step: Step, res: ServerResponse, headers: Record<string, string>): boolean {
  switch (step.kind) {
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
    if (step?.kind === "break_stream" && i === step.afterLines) return dropConnection(res);
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
