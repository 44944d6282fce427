/**
 * A fake OpenAI-compatible upstream on 127.0.0.1, speaking the real wire format
 * (https://platform.openai.com/docs/api-reference): /v1/chat/completions and
 * /v1/completions (JSON, or SSE with `stream: true`), /v1/embeddings, /v1/models,
 * and the Responses API /v1/responses (./fake-responses.ts) with
 * /v1/responses/input_tokens (1000 + the words it is sent).
 *
 * Replies are deterministic: chat answers "echo: <last user message>", a
 * completion answers "<prompt> …continued", embeddings are derived from the text.
 * Tools, JSON mode and images follow OpenAI's wire shapes (see `chatReply` in
 * ./fake-replies.ts): offered tools are called (streamed as `delta.tool_calls`:
 * id and name first, then the arguments in fragments), tool results are
 * answered, `response_format` gets JSON, image parts are counted.
 *
 * Faults are scripted per upstream model name, and what it received is recorded
 * per model name, through the control API of fake-control.ts. Quirks (fake-control.ts)
 * make a model lack tools or JSON output: refused with OpenAI's 400 for an
 * unsupported parameter (which echoes the request's key when `echo` is set, as
 * careless proxies do), or ignored (plain text). A `down_for` step
 * serves every request of its model until its time is up. It also serves
 * images for the gateway to fetch (backends that take image bytes):
 *   GET /__fixtures/pixel.png   a 1x1 PNG;  /__fixtures/page.html  not an image;  /__fixtures/huge.png  over 10 MiB;
 *   /__fixtures/big.png?mib=N&id=X  N MiB, recorded under model name X with the bytes delivered
 */
import type { ServerResponse } from "node:http";
import { answerCommonFault, type CommonStep, FakeControl, type Quirks } from "./fake-control.ts";
import { dropConnection, type FakeServer, json, serve } from "./fake-http.ts";
import { chatReply } from "./fake-replies.ts";
import { answerResponses, type ResponsesStep } from "./fake-responses.ts";
import { fakeVector8 } from "./fake-vectors.js";

export type Step =
  | CommonStep
  // /v1/responses only (./fake-responses.ts): response.failed mid-stream; /v1/responses and /v1/chat/completions:
  // a scripted function call (name and arguments as given), until its output is in the input.
  | Extract<ResponsesStep, { kind: "fail_stream" | "call_tool" | "small_deltas" }>
  | { kind: "break_stream"; afterChunks: number }
  // A stream that sends `afterChunks` text chunks, then nothing, holding the connection open (a stalled upstream).
  | { kind: "stall"; afterChunks: number }
  | { kind: "echo_auth"; status: number }
  // `delayMs` before each text chunk, from chunk `afterChunks` on (0: all of them, the first token included).
  | { kind: "slow_stream"; delayMs: number; afterChunks?: number }
  | { kind: "delay"; ms: number }
  // Flapping: every generation request fails with `status` (503 by default) for `ms` after the first one, then the
  // upstream is healthy again. GET /v1/models keeps answering 200 all along, as many real upstreams do.
  | { kind: "down_for"; ms: number; status?: number }
  // A stream that sends its headers and the role chunk, then nothing (silence before the first token).
  | { kind: "no_first_token" }
  // A stream whose first token comes only after `delayMs` (headers and the role chunk at once).
  | { kind: "slow_first_token"; delayMs: number }
  // OpenAI's documented 400 bodies: the prompt is too long; Azure OpenAI's content filter.
  | { kind: "context_length" }
  | { kind: "content_filter" }
  // One SSE event whose data is not JSON, after `afterChunks` text chunks; the rest of the stream is fine.
  | { kind: "malformed_event"; afterChunks: number }
  // The whole stream written at once, in one burst.
  | { kind: "burst" }
  // Answers far larger than any gateway should read: a JSON body, a stream, an error body of `bytes`
  // (written as the client reads; the request's record gets `delivered`: how much was taken, and whether all of it).
  // `declared`: with its Content-Length (otherwise chunked, its size unknown until the end).
  | { kind: "huge_json"; bytes: number; declared?: boolean }
  | { kind: "huge_stream"; bytes: number }
  | { kind: "huge_error"; bytes: number; status?: number }
  // The answer's usage says `cached` of its prompt tokens came from the prompt cache and `reasoning` of its
  // completion tokens were reasoning (OpenAI's prompt_tokens_details / completion_tokens_details), streamed or not.
  | { kind: "cache_usage"; cached: number; reasoning: number };

/** OpenAI's answer to a prompt longer than the model's context (https://platform.openai.com/docs/guides/error-codes). */
export const CONTEXT_LENGTH_BODY = {
  error: {
    message:
      "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages.",
    type: "invalid_request_error",
    param: "messages",
    code: "context_length_exceeded",
  },
};

/** Azure OpenAI's answer to a prompt its content filter refused. */
export const CONTENT_FILTER_BODY = {
  error: {
    message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.",
    type: null,
    param: "prompt",
    code: "content_filter",
    status: 400,
    innererror: {
      code: "ResponsibleAIPolicyViolation",
      content_filter_result: { hate: { filtered: true, severity: "high" }, violence: { filtered: false, severity: "safe" } },
    },
  },
};

export function startFakeOpenAI(port = 0): Promise<FakeServer> {
  /** When each model's current `down_for` outage ends. */
  const outages = new Map<string, number>();
  const control = new FakeControl<Step>({}, () => outages.clear());

  return serve(async (request, res) => {
    if (control.handle(request, res)) return;
    const { method, url, headers, fields } = request;
    if (url.pathname === "/__fixtures/big.png") {
      // `mib` MiB of "image", written as the client reads; recorded under the model name `id` with what was `delivered`.
      const entry = control.record(request, { model: url.searchParams.get("id") ?? "" });
      res.writeHead(200, { "content-type": "image/png" });
      await pump(res, (entry.delivered = progress()), "", Number(url.searchParams.get("mib") ?? 1) * 1024 * 1024, "");
      return;
    }
    if (url.pathname.startsWith("/__fixtures/")) {
      fixture(url.pathname, res);
      return;
    }
    const model = typeof fields.model === "string" ? fields.model : "";
    const entry = control.record(request, { model });
    // A client that went away before the answer was complete (its timeout fired, or it cancelled).
    res.on("close", () => {
      if (!res.writableFinished) entry.aborted = true;
    });

    if (method === "GET" && url.pathname === "/v1/models") {
      return json(res, 200, {
        object: "list",
        data: ["gpt-fake", "fake-embed", ...control.scripted()].map((id) => ({ id, object: "model", created: 1700000000, owned_by: "fake" })),
      });
    }

    const outage = outages.get(model);
    if (outage !== undefined && Date.now() >= outage) outages.delete(model);
    if (outages.has(model)) return json(res, 503, { error: { message: "The server is temporarily down (scripted outage).", type: "server_error" } });
    const step = control.next(model);
    if (step?.kind === "down_for") {
      outages.set(model, Date.now() + step.ms);
      return json(res, step.status ?? 503, { error: { message: "The server is temporarily down (scripted outage).", type: "server_error" } });
    }
    if (step?.kind === "context_length") return json(res, 400, CONTEXT_LENGTH_BODY);
    if (step?.kind === "content_filter") return json(res, 400, CONTENT_FILTER_BODY);
    if (step?.kind === "huge_error") {
      res.writeHead(step.status ?? 500, { "content-type": "application/json" });
      await pump(res, (entry.delivered = progress()), '{"error":{"message":"', step.bytes, '"}}');
      return;
    }
    if (step?.kind === "huge_json") {
      const prefix = `{"id":"chatcmpl-huge","object":"chat.completion","created":1700000000,"model":${JSON.stringify(model)},"choices":[{"index":0,"message":{"role":"assistant","content":"`;
      const suffix = '"},"finish_reason":"stop"}]}';
      const length = Buffer.byteLength(prefix) + step.bytes + Buffer.byteLength(suffix);
      res.writeHead(200, { "content-type": "application/json", ...(step.declared && { "content-length": String(length) }) });
      await pump(res, (entry.delivered = progress()), prefix, step.bytes, suffix);
      return;
    }
    if (step?.kind === "huge_stream") {
      res.writeHead(200, { "content-type": "text/event-stream" });
      await pumpEvents(res, (entry.delivered = progress()), model, step.bytes);
      return;
    }
    if (answerCommonFault(res, step, (status) => ({ error: { message: `scripted ${status}`, type: "fake" } }))) return;
    if (step?.kind === "echo_auth") {
      return json(res, step.status, {
        error: { message: `Invalid API key provided: ${headers.authorization ?? ""}`, type: "invalid_request_error" },
      });
    }

    if (step?.kind === "delay") await new Promise((r) => setTimeout(r, step.ms)); // then answer normally
    if (method === "POST" && url.pathname === "/v1/chat/completions") {
      const messages = (fields.messages ?? []) as unknown[];
      const quirks = control.quirks(model);
      const refused = refusal(fields, quirks, quirks.echo ? (headers.authorization ?? "") : "");
      if (refused) return json(res, 400, refused);
      // A scripted call (an agent's tool, e.g. Codex's exec_command) until its result is in the conversation.
      const scripted = step?.kind === "call_tool" && (messages.at(-1) as { role?: string } | undefined)?.role !== "tool";
      const reply = scripted
        ? { text: "", toolCalls: [{ id: "call_fake_0", name: step.name, arguments: step.arguments }] }
        : chatReply(withoutIgnored(fields, quirks));
      if (reply.toolCalls) {
        const calls = reply.toolCalls.map((c) => ({
          id: c.id,
          type: "function",
          function: { name: c.name, arguments: JSON.stringify(c.arguments) },
        }));
        if (fields.stream) return streamToolCalls(res, model, calls);
        return json(res, 200, {
          id: "chatcmpl-fake",
          object: "chat.completion",
          created: 1700000000,
          model,
          choices: [{ index: 0, message: { role: "assistant", content: null, tool_calls: calls }, finish_reason: "tool_calls", logprobs: null }],
          usage: usage(JSON.stringify(messages), JSON.stringify(calls)),
        });
      }
      const text = reply.json ? { value: reply.text, finish: "stop" as const } : limit(reply.text, fields.max_tokens);
      if (fields.stream) return stream(res, model, text, "chat", step);
      return json(res, 200, {
        id: "chatcmpl-fake",
        object: "chat.completion",
        created: 1700000000,
        model,
        choices: [{ index: 0, message: { role: "assistant", content: text.value }, finish_reason: text.finish, logprobs: null }],
        usage: usage(JSON.stringify(messages), text.value, step),
      });
    }
    if (method === "POST" && url.pathname === "/v1/responses/input_tokens") {
      // Counts what it is sent (its own tokenizer: 1000 + words, so a test can tell it from the gateway's estimate).
      const unknown = Object.keys(fields).find((k) => k === "store" || k === "stream");
      if (unknown) return json(res, 400, { error: { message: `Unknown parameter: '${unknown}'.`, type: "invalid_request_error", param: unknown } });
      const { model: _model, ...counted } = fields;
      return json(res, 200, { object: "response.input_tokens", input_tokens: 1000 + JSON.stringify(counted).split(/\s+/).length });
    }
    if (method === "POST" && url.pathname === "/v1/responses") {
      const responsesStep =
        step?.kind === "break_stream" || step?.kind === "fail_stream" || step?.kind === "call_tool" || step?.kind === "small_deltas"
          ? step
          : undefined;
      return answerResponses(res, fields, model, responsesStep);
    }
    if (method === "POST" && url.pathname === "/v1/completions") {
      const prompt = String(fields.prompt ?? "");
      const text = limit(`${prompt} …continued`, fields.max_tokens);
      if (fields.stream) return stream(res, model, text, "completion", step);
      return json(res, 200, {
        id: "cmpl-fake",
        object: "text_completion",
        created: 1700000000,
        model,
        choices: [{ index: 0, text: text.value, finish_reason: text.finish, logprobs: null }],
        usage: usage(prompt, text.value),
      });
    }
    if (method === "POST" && url.pathname === "/v1/embeddings") {
      const inputs = Array.isArray(fields.input) ? (fields.input as string[]) : [String(fields.input)];
      return json(res, 200, {
        object: "list",
        model,
        data: inputs.map((text, index) => ({ object: "embedding", index, embedding: fakeVector8(text) })),
        usage: { prompt_tokens: inputs.join(" ").split(/\s+/).length, total_tokens: inputs.join(" ").split(/\s+/).length },
      });
    }
    return json(res, 404, { error: { message: `Unknown path ${url.pathname}`, type: "invalid_request_error" } });
  }, port);
}

/** OpenAI's 400 for a parameter the model does not take, when its quirks refuse a field the request has. */
function refusal(fields: Record<string, unknown>, quirks: Quirks, echo: string) {
  if (quirks.prefill === "refuse" && endsInPrefill(fields)) {
    const message = "Invalid 'messages': the last message must have role 'user' or 'tool'; assistant prefill is not supported.";
    return { error: { message, type: "invalid_request_error", param: "messages", code: "invalid_value" } };
  }
  const param = quirks.tools === "refuse" && fields.tools ? "tools" : quirks.json === "refuse" && fields.response_format ? "response_format" : null;
  if (!param) return null;
  const message = `Unsupported parameter: '${param}' is not supported with this model.${echo ? ` (key ${echo})` : ""}`;
  return { error: { message, type: "invalid_request_error", param, code: "unsupported_parameter" } };
}

/** The request as a model that ignores a field sees it. */
function withoutIgnored(fields: Record<string, unknown>, quirks: Quirks): Record<string, unknown> {
  const seen = { ...fields };
  if (quirks.tools === "ignore") delete seen.tools;
  if (quirks.json === "ignore") delete seen.response_format;
  // Without prefill, a final assistant message is just history: the model starts a new answer.
  if (quirks.prefill === "ignore" && endsInPrefill(fields)) seen.messages = (fields.messages as unknown[]).slice(0, -1);
  return seen;
}

function endsInPrefill(fields: Record<string, unknown>): boolean {
  const last = (Array.isArray(fields.messages) ? fields.messages.at(-1) : undefined) as { role?: string } | undefined;
  return last?.role === "assistant";
}

/** A 1x1 transparent PNG. */
export const PIXEL_PNG_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

function fixture(path: string, res: ServerResponse): void {
  const [type, body] =
    path === "/__fixtures/pixel.png"
      ? ["image/png", Buffer.from(PIXEL_PNG_BASE64, "base64")]
      : path === "/__fixtures/huge.png"
        ? ["image/png", Buffer.alloc(10 * 1024 * 1024 + 1)]
        : ["text/html", Buffer.from("<html>not an image</html>")];
  res.writeHead(200, { "content-type": type });
  res.end(body);
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
  const event = (payload: Record<string, unknown>) =>
    `data: ${JSON.stringify({ id: "fake-stream", object: kind === "chat" ? "chat.completion.chunk" : "text_completion", created: 1700000000, model, ...payload })}\n\n`;
  if (step?.kind === "burst") {
    const textChoice = (piece: string) =>
      kind === "chat" ? { index: 0, delta: { content: piece }, finish_reason: null } : { index: 0, text: piece, finish_reason: null };
    const finishChoice = kind === "chat" ? { index: 0, delta: {}, finish_reason: text.finish } : { index: 0, text: "", finish_reason: text.finish };
    const all = [
      ...(kind === "chat" ? [event({ choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] })] : []),
      ...pieces.map((piece) => event({ choices: [textChoice(piece)] })),
      event({ choices: [finishChoice] }),
      event({ choices: [], usage: usage("", text.value) }),
      "data: [DONE]\n\n",
    ];
    res.end(all.join(""));
    return;
  }
  if (kind === "chat") await chunk({ choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] });
  if (step?.kind === "no_first_token") return; // headers and the role chunk, then silence: the client's timer must fire
  if (step?.kind === "slow_first_token") await new Promise((r) => setTimeout(r, step.delayMs));
  for (const [i, piece] of pieces.entries()) {
    if (step?.kind === "break_stream" && i === step.afterChunks) return dropConnection(res);
    if (step?.kind === "stall" && i === step.afterChunks) return; // silence, the connection held open: the client's stall timer must fire
    if (step?.kind === "malformed_event" && i === step.afterChunks) {
      await new Promise<void>((resolve) => res.write('data: {"choices": [{"delta": {"content": "never shown"\n\n', () => resolve()));
    }
    if (step?.kind === "slow_stream" && i >= (step.afterChunks ?? 0)) await new Promise((r) => setTimeout(r, step.delayMs));
    await chunk({
      choices: [kind === "chat" ? { index: 0, delta: { content: piece }, finish_reason: null } : { index: 0, text: piece, finish_reason: null }],
    });
  }
  await chunk({
    choices: [kind === "chat" ? { index: 0, delta: {}, finish_reason: text.finish } : { index: 0, text: "", finish_reason: text.finish }],
  });
  await chunk({ choices: [], usage: usage("", text.value, step) });
  res.write("data: [DONE]\n\n");
  res.end();
}

/** How much of a huge answer the client has taken so far, and whether all of it; updated as it is written. */
interface Progress {
  bytes: number;
  complete: boolean;
}
const progress = (): Progress => ({ bytes: 0, complete: false });

/** Write `prefix`, then `bytes` of filler as fast as the client reads, then `suffix`; stop when the client goes. */
function pump(res: ServerResponse, into: Progress, prefix: string, bytes: number, suffix: string): Promise<void> {
  return write(res, into, [prefix, ...filler(bytes, "a"), suffix]);
}

/** A stream of chat chunks carrying `bytes` of text in all, then a proper end. */
function pumpEvents(res: ServerResponse, into: Progress, model: string, bytes: number): Promise<void> {
  const event = (choice: Record<string, unknown>) =>
    `data: ${JSON.stringify({ id: "fake-huge", object: "chat.completion.chunk", created: 1700000000, model, choices: [choice] })}\n\n`;
  const parts = filler(bytes, "b").map((text) => event({ index: 0, delta: { content: text }, finish_reason: null }));
  return write(res, into, [...parts, event({ index: 0, delta: {}, finish_reason: "stop" }), "data: [DONE]\n\n"]);
}

function filler(bytes: number, letter: string): string[] {
  const piece = letter.repeat(256 * 1024);
  const parts: string[] = [];
  for (let left = bytes; left > 0; left -= piece.length) parts.push(left >= piece.length ? piece : letter.repeat(left));
  return parts;
}

async function write(res: ServerResponse, into: Progress, parts: string[]): Promise<void> {
  let closed = false;
  res.on("close", () => (closed = true));
  for (const part of parts) {
    if (closed || res.destroyed) return;
    const room = res.write(part);
    into.bytes += Buffer.byteLength(part);
    if (!room) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off("drain", done);
          res.off("close", done);
          resolve();
        };
        res.on("drain", done);
        res.on("close", done);
      });
    }
  }
  if (closed || res.destroyed) return;
  await new Promise<void>((resolve) => res.end(resolve));
  into.complete = !closed;
}

function usage(prompt: string, completion: string, step?: Step) {
  const words = (text: string) => text.split(/\s+/).filter(Boolean).length;
  if (step?.kind === "cache_usage") {
    // The cached and reasoning tokens are parts of the totals, as OpenAI counts them.
    const p = words(prompt) + step.cached;
    const c = words(completion) + step.reasoning;
    return {
      prompt_tokens: p,
      completion_tokens: c,
      total_tokens: p + c,
      prompt_tokens_details: { cached_tokens: step.cached, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: step.reasoning, audio_tokens: 0 },
    };
  }
  const p = words(prompt);
  const c = words(completion);
  return { prompt_tokens: p, completion_tokens: c, total_tokens: p + c };
}
