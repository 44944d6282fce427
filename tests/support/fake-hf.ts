/**
 * A fake Hugging Face on 127.0.0.1, speaking the real wire formats
 * (huggingface.co/docs/inference-providers):
 *
 *   router        POST /v1/chat/completions (JSON, or SSE with stream: true), GET /v1/models
 *   hf-inference  POST /hf-inference/models/<org>/<name> runs the model's own pipeline, as the
 *                 real service does; its pipeline tag comes from the model name:
 *                   "sentence-transformers/…"   sentence-similarity: wants {source_sentence, sentences}
 *                                               and refuses a list of strings (422)
 *                   "embed" / "MiniLM" / "bge"  feature-extraction: number[][] for a list, number[] for a
 *                                               string; "token-level" → number[][][]; "flat" → number[]
 *                                               for a list of one (as some custom handlers answer)
 *                   "mnli" / "zero-shot"        zero-shot-classification; "legacy" → {sequence, labels, scores}
 *                   "sentiment" / "sst"         text-classification, nested [[{label, score}]]
 *                   anything else               text-generation: TGI's legacy {inputs, parameters}
 *                 POST …/pipeline/<task>: that task whatever the tag (feature-extraction for any
 *                 embedding model); POST …/v1/completions: OpenAI-style completions (JSON or SSE)
 *   endpoint      /endpoint/<name>: POST it for the task (same dispatch by name),
 *                 POST …/v1/chat/completions and …/v1/completions, GET …/info
 *
 * Deterministic answers: chat says "echo: <last user message>"; text-generation
 * continues any prompt with "and they lived happily ever after" (a word per
 * token); a text's vector is [characters, words, code of its first character]
 * (token-level: that of each word); a classifier scores words it knows.
 * Classifier answers are deliberately not sorted, so the gateway's sort shows.
 *
 * Faults and records, per model (model_name without ":provider"; endpoint name),
 * through the control API of fake-control.ts.
 */
import type { ServerResponse } from "node:http";
import { answerCommonFault, type CommonStep, FakeControl } from "./fake-control.ts";
import { dropConnection, type FakeServer, json, serve } from "./fake-http.ts";
import { chatReply, type FakeToolCall } from "./fake-replies.ts";
import { fakeVector3 } from "./fake-vectors.js";

export type Step =
  CommonStep | { kind: "loading"; estimatedTime: number } | { kind: "break_stream"; afterChunks: number } | { kind: "echo_auth"; status: number };

type Body = Record<string, unknown>;
const CONTINUATION = ["and", " they", " lived", " happily", " ever", " after"];

export function startFakeHF(): Promise<FakeServer> {
  const control = new FakeControl<Step>();

  return serve((request, res) => {
    if (control.handle(request, res)) return;
    const { method, url, headers, fields: body } = request;
    const target = route(method, url.pathname, body);
    if (!target) return json(res, 404, { error: `Not Found: ${url.pathname}` });
    control.record(request, { model: target.model });

    const step = control.next(target.model);
    if (answerCommonFault(res, step, (status) => ({ error: `scripted ${status}` }))) return;
    if (step?.kind === "loading") {
      return json(res, 503, { error: `Model ${target.model} is currently loading`, estimated_time: step.estimatedTime });
    }
    if (step?.kind === "echo_auth") {
      return json(res, step.status, { error: `Invalid credentials in Authorization header: ${headers.authorization ?? ""}` });
    }
    const breakAfter = step?.kind === "break_stream" ? step.afterChunks : undefined;

    switch (target.kind) {
      case "completions":
        return completions(res, body, breakAfter);
      case "models": {
        const ids = ["meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-7B-Instruct"];
        return json(res, 200, { object: "list", data: ids.map((id) => ({ id, object: "model", owned_by: id.split("/")[0] })) });
      }
      case "info":
        return json(res, 200, { model_id: target.model, max_input_tokens: 4096, version: "fake" });
      case "chat":
        return chat(res, body, breakAfter);
      case "task":
        return task(res, target.model, target.pipeline ?? pipelineTag(target.model), body, breakAfter);
    }
  });
}

/** Which API a request is for, and the model its scripts and records are kept under. */
type Route = { kind: "chat" | "completions" | "task" | "models" | "info"; model: string; pipeline?: Pipeline };

function route(method: string, path: string, body: Body): Route | undefined {
  const chatModel = () => String(body.model ?? "").split(":")[0]!;
  if (method === "GET" && path === "/v1/models") return { kind: "models", model: "" };
  if (method === "POST" && path === "/v1/chat/completions") return { kind: "chat", model: chatModel() };
  const inference = /^\/hf-inference\/models\/(.+?)(?:\/pipeline\/([a-z-]+)|\/v1\/(completions))?$/.exec(path);
  if (method === "POST" && inference) {
    const model = decodeURIComponent(inference[1]!);
    if (inference[3]) return { kind: "completions", model };
    return { kind: "task", model, pipeline: inference[2] as Pipeline | undefined };
  }
  const endpoint = /^\/endpoint\/([^/]+)(\/.*)?$/.exec(path);
  if (!endpoint) return undefined;
  const [, model = "", rest = "/"] = endpoint;
  if (method === "POST" && rest === "/") return { kind: "task", model };
  if (method === "POST" && rest === "/v1/chat/completions") return { kind: "chat", model };
  if (method === "POST" && rest === "/v1/completions") return { kind: "completions", model };
  if (method === "GET" && rest === "/info") return { kind: "info", model };
  return undefined;
}

async function chat(res: ServerResponse, body: Body, breakAfter: number | undefined) {
  const messages = (body.messages ?? []) as { role: string; content: string }[];
  // The router is OpenAI-compatible: tools and JSON mode as the fake OpenAI answers them.
  const reply = chatReply(body);
  if (reply.toolCalls) return chatToolCalls(res, body, reply.toolCalls);
  let words = reply.text.split(/(?<= )/);
  const cut = typeof body.max_tokens === "number" && words.length > body.max_tokens;
  if (cut) words = words.slice(0, body.max_tokens as number);
  const text = words.join("");
  const finish = cut ? "length" : "stop";
  const usage = { prompt_tokens: JSON.stringify(messages).length, completion_tokens: words.length };
  if (!body.stream) {
    return json(res, 200, {
      id: "chatcmpl-hf",
      object: "chat.completion",
      model: body.model,
      choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: finish }],
      usage,
    });
  }
  const chunk = (choice: unknown, extra: Body = {}) => ({
    id: "chatcmpl-hf",
    object: "chat.completion.chunk",
    model: body.model,
    choices: [choice],
    ...extra,
  });
  const events = [
    ...words.map((w) => chunk({ index: 0, delta: { content: w }, finish_reason: null })),
    chunk({ index: 0, delta: {}, finish_reason: finish }, { usage }),
  ];
  await sse(res, events, breakAfter, true);
}

async function chatToolCalls(res: ServerResponse, body: Body, toolCalls: FakeToolCall[]) {
  const calls = toolCalls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: JSON.stringify(c.arguments) } }));
  if (!body.stream) {
    const message = { role: "assistant", content: null, tool_calls: calls };
    return json(res, 200, {
      id: "chatcmpl-hf",
      object: "chat.completion",
      model: body.model,
      choices: [{ index: 0, message, finish_reason: "tool_calls" }],
    });
  }
  const chunk = (delta: Body, finish: string | null = null) => ({
    id: "chatcmpl-hf",
    object: "chat.completion.chunk",
    model: body.model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  });
  const events = [
    ...calls.flatMap((c, index) => [
      chunk({ tool_calls: [{ index, id: c.id, type: "function", function: { name: c.function.name, arguments: "" } }] }),
      chunk({ tool_calls: [{ index, function: { arguments: c.function.arguments } }] }),
    ]),
    chunk({}, "tool_calls"),
  ];
  await sse(res, events, undefined, true);
}

type Pipeline = "sentence-similarity" | "feature-extraction" | "zero-shot-classification" | "text-classification" | "text-generation";

/** The pipeline tag the Hub would give the model: what POST /models/<model> runs. */
function pipelineTag(model: string): Pipeline {
  if (/^sentence-transformers\//.test(model)) return "sentence-similarity";
  if (/embed|MiniLM|bge/i.test(model)) return "feature-extraction";
  if (/mnli|zero-shot/i.test(model)) return "zero-shot-classification";
  if (/sentiment|sst/i.test(model)) return "text-classification";
  return "text-generation";
}

function task(res: ServerResponse, model: string, pipeline: Pipeline, body: Body, breakAfter: number | undefined) {
  const inputs = body.inputs;
  const parameters = (body.parameters ?? {}) as Body;
  if (pipeline === "sentence-similarity") {
    const ok = inputs && typeof inputs === "object" && !Array.isArray(inputs) && "source_sentence" in inputs;
    if (!ok) return json(res, 422, { error: ["Input should be a valid dictionary with source_sentence and sentences"] });
    const { sentences = [] } = inputs as { sentences?: string[] };
    return json(
      res,
      200,
      sentences.map(() => 0.5),
    );
  }
  if (pipeline === "feature-extraction") {
    if (typeof inputs === "string") return json(res, 200, fakeVector3(inputs));
    const texts = inputs as string[];
    if (/token-level/.test(model))
      return json(
        res,
        200,
        texts.map((t) => t.split(" ").map(fakeVector3)),
      );
    if (/flat/.test(model)) return json(res, 200, fakeVector3(texts[0] ?? ""));
    return json(res, 200, texts.map(fakeVector3));
  }
  if (pipeline === "zero-shot-classification") {
    const labels = parameters.candidate_labels as string[] | undefined;
    if (!labels) return json(res, 400, { error: "Input validation error: `candidate_labels` is required" });
    // Weight 6 for a label the text mentions, plus its position: distinct, unsorted scores.
    const weights = labels.map((l, i) => (String(inputs).includes(l) ? 6 : 1) + i);
    const total = weights.reduce((a, b) => a + b, 0);
    const scores = weights.map((w) => w / total);
    if (/legacy/.test(model)) return json(res, 200, { sequence: inputs, labels, scores });
    return json(
      res,
      200,
      labels.map((label, i) => ({ label, score: scores[i] })),
    );
  }
  if (pipeline === "text-classification") {
    const positive = /love|great|good/.test(String(inputs)) ? 0.95 : 0.2;
    return json(res, 200, [
      [
        { label: "NEGATIVE", score: 1 - positive },
        { label: "POSITIVE", score: positive },
      ],
    ]);
  }
  return textGeneration(res, String(inputs), parameters, body.stream === true, breakAfter);
}

/** OpenAI-style completions, as hf-inference and TGI serve them at …/v1/completions: a word per token. */
async function completions(res: ServerResponse, body: Body, breakAfter: number | undefined) {
  let tokens = [...CONTINUATION];
  let finish = "stop";
  const stops = (typeof body.stop === "string" ? [body.stop] : ((body.stop ?? []) as string[])).map((s) => s.trim());
  const stopAt = tokens.findIndex((t) => stops.includes(t.trim()));
  if (stopAt >= 0) tokens = tokens.slice(0, stopAt);
  if (typeof body.max_tokens === "number" && tokens.length > body.max_tokens) [tokens, finish] = [tokens.slice(0, body.max_tokens), "length"];
  const usage = { prompt_tokens: String(body.prompt ?? "").split(" ").length, completion_tokens: tokens.length };
  const base = { id: "cmpl-hf", object: "text_completion", model: body.model };
  if (!body.stream) return json(res, 200, { ...base, choices: [{ index: 0, text: tokens.join(""), finish_reason: finish }], usage });
  const events = [
    ...tokens.map((text) => ({ ...base, choices: [{ index: 0, text, finish_reason: null }] })),
    { ...base, choices: [{ index: 0, text: "", finish_reason: finish }], usage },
  ];
  await sse(res, events, breakAfter, true);
}

/** TGI's text-generation: a word per token, cut by max_new_tokens or a stop sequence. */
async function textGeneration(res: ServerResponse, prompt: string, parameters: Body, stream: boolean, breakAfter: number | undefined) {
  let tokens = [...CONTINUATION];
  let finish = "eos_token";
  const stops = (parameters.stop ?? []) as string[];
  const stopAt = tokens.findIndex((t) => stops.includes(t.trim()));
  if (stopAt >= 0) [tokens, finish] = [tokens.slice(0, stopAt), "stop_sequence"];
  const max = parameters.max_new_tokens;
  if (typeof max === "number" && tokens.length > max) [tokens, finish] = [tokens.slice(0, max), "length"];
  const generated = tokens.join("");
  const details = parameters.details ? { finish_reason: finish, generated_tokens: tokens.length, seed: null } : null;
  if (!stream) {
    const text = parameters.return_full_text === false ? generated : `${prompt}${generated}`;
    return json(res, 200, [{ generated_text: text, ...(details && { details: { ...details, prefill: [], tokens: [] } }) }]);
  }
  // An end-of-sequence stop sends one more, special, token: it must not show up as text.
  const sent = tokens.map((text) => ({ text, special: false }));
  if (finish === "eos_token") sent.push({ text: "</s>", special: true });
  const events = sent.map((token, i) => {
    const last = i === sent.length - 1;
    return { index: i + 1, token: { id: i, logprob: -0.1, ...token }, generated_text: last ? generated : null, details: last ? details : null };
  });
  await sse(res, events, breakAfter, false);
}

/** Server-sent events; `breakAfter` drops the connection after that many events. */
async function sse(res: ServerResponse, events: unknown[], breakAfter: number | undefined, done: boolean) {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  for (const [i, event] of events.entries()) {
    if (i === breakAfter) return dropConnection(res);
    await new Promise<void>((resolve) => res.write(`data: ${JSON.stringify(event)}\n\n`, () => resolve()));
  }
  if (done) res.write("data: [DONE]\n\n"); // the router does; TGI's own stream just ends
  res.end();
}
