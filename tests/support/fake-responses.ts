/**
 * The fake OpenAI upstream's Responses API (`POST /v1/responses`), as OpenAI
 * documents it (https://platform.openai.com/docs/api-reference/responses and
 * .../responses-streaming): a response object, or with `stream: true` the
 * events in their documented order, each with its `sequence_number`:
 *   response.created, response.in_progress,
 *   [reasoning item: response.output_item.added, response.output_item.done]   when `reasoning` is set;
 *     with `reasoning.summary`, between them: response.reasoning_summary_part.added,
 *     response.reasoning_summary_text.delta ×2, response.reasoning_summary_text.done,
 *     response.reasoning_summary_part.done (the summary "Thinking it over.")
 *   text:  response.output_item.added (message), response.content_part.added,
 *          response.output_text.delta ×N, response.output_text.done,
 *          response.content_part.done, response.output_item.done
 *   calls: response.output_item.added (function_call), response.function_call_arguments.delta ×2,
 *          response.function_call_arguments.done, response.output_item.done
 *   response.completed (with usage; response.incomplete when max_output_tokens cut it)
 * Replies are decided as for chat (./fake-replies.ts) from the input items.
 * Usage: words of the input and of the output; `input_tokens_details.cached_tokens`
 * half the input when `prompt_cache_key` is set; `output_tokens_details.reasoning_tokens`
 * 7 when `reasoning` is set (and counted in output_tokens).
 * Faults (steps): `break_stream` cuts the connection after `afterChunks` text deltas;
 * `fail_stream` sends response.failed after `afterChunks` text deltas; `call_tool`
 * answers with one function call of the given name and arguments (then, once its
 * output is in the input, the chat rules apply: "tool said: ...").
 */
import type { ServerResponse } from "node:http";
import { dropConnection, json } from "./fake-http.ts";
import { type FakeReply, type FakeToolCall, reply } from "./fake-replies.ts";

export type ResponsesStep =
  | { kind: "break_stream"; afterChunks: number }
  | { kind: "fail_stream"; afterChunks: number }
  | { kind: "call_tool"; name: string; arguments: Record<string, unknown> }
  // The text in deltas of `chars` characters, as a tokenizer splits it (a secret in it spans several deltas).
  | { kind: "small_deltas"; chars: number };

type Item = Record<string, unknown>;

let counter = 0;
const newId = (prefix: string) => `${prefix}_fake${Date.now().toString(36)}${(counter++).toString(36)}`;

/** The input items as the chat messages fake-replies.ts reads. */
function messages(input: unknown): { role: string; content?: unknown }[] {
  if (typeof input === "string") return [{ role: "user", content: input }];
  const out: { role: string; content?: unknown }[] = [];
  for (const item of (input ?? []) as Item[]) {
    const type = item.type ?? "message";
    if (type === "message") {
      const content = item.content;
      const text =
        typeof content === "string"
          ? content
          : ((content ?? []) as { text?: string }[]).map((p) => (typeof p.text === "string" ? p.text : "")).join("");
      out.push({ role: String(item.role), content: text });
    } else if (type === "function_call") out.push({ role: "assistant", content: "" });
    else if (type === "function_call_output")
      out.push({ role: "tool", content: typeof item.output === "string" ? item.output : JSON.stringify(item.output) });
  }
  return out;
}

function decide(fields: Record<string, unknown>, step: ResponsesStep | undefined): FakeReply {
  const chat = messages(fields.input);
  if (step?.kind === "call_tool" && chat.at(-1)?.role !== "tool") {
    return { text: "", toolCalls: [{ id: "call_fake_0", name: step.name, arguments: step.arguments }] };
  }
  const tools = ((fields.tools ?? []) as Item[])
    .filter((t) => t.type === "function")
    .map((t) => ({ name: String(t.name), parameters: t.parameters as { properties?: Record<string, { type?: string }> } }));
  const choice = fields.tool_choice as Item | string | undefined;
  const toolChoice = typeof choice === "object" && choice?.type === "function" ? { type: "function", function: { name: choice.name } } : choice;
  return reply({ messages: chat, tools, toolChoice, parallel: fields.parallel_tool_calls as boolean | undefined }, "echo: ");
}

const words = (text: string) => text.split(/\s+/).filter(Boolean).length;

export async function answerResponses(
  res: ServerResponse,
  fields: Record<string, unknown>,
  model: string,
  step: ResponsesStep | undefined,
): Promise<void> {
  const answer = decide(fields, step);
  const reasoning = fields.reasoning !== undefined && fields.reasoning !== null;
  const include = (fields.include ?? []) as string[];
  const maxOutput = typeof fields.max_output_tokens === "number" ? fields.max_output_tokens : undefined;
  const allWords = answer.text.split(" ");
  const cut = maxOutput !== undefined && !answer.toolCalls && allWords.length > maxOutput;
  const text = cut ? allWords.slice(0, maxOutput).join(" ") : answer.text;

  const inputTokens = words(JSON.stringify(fields.input ?? "")) + words(String(fields.instructions ?? ""));
  const reasoningTokens = reasoning ? 7 : 0;
  const outputTokens = words(text) + words(JSON.stringify(answer.toolCalls?.map((c) => c.arguments) ?? [])) + reasoningTokens;
  const usage = {
    input_tokens: inputTokens,
    input_tokens_details: { cached_tokens: fields.prompt_cache_key ? Math.floor(inputTokens / 2) : 0 },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: reasoningTokens },
    total_tokens: inputTokens + outputTokens,
  };

  const summary = (fields.reasoning as { summary?: string } | null | undefined)?.summary ? "Thinking it over." : "";
  const reasoningItem: Item = {
    id: newId("rs"),
    type: "reasoning",
    summary: summary ? [{ type: "summary_text", text: summary }] : [],
    ...(include.includes("reasoning.encrypted_content") && { encrypted_content: "gAAAAB-fake-encrypted" }),
  };
  const messageId = newId("msg");
  const part = { type: "output_text", text, annotations: [], logprobs: [] };
  const messageItem: Item = { id: messageId, type: "message", status: "completed", role: "assistant", content: [part] };
  const callItem = (call: FakeToolCall): Item => ({
    id: newId("fc"),
    type: "function_call",
    status: "completed",
    call_id: call.id,
    name: call.name,
    arguments: JSON.stringify(call.arguments),
  });
  const output: Item[] = [...(reasoning ? [reasoningItem] : []), ...(answer.toolCalls ? answer.toolCalls.map(callItem) : [messageItem])];
  const base = {
    id: newId("resp"),
    object: "response",
    created_at: Math.floor(Date.now() / 1000),
    model,
    instructions: fields.instructions ?? null,
    tools: fields.tools ?? [],
    tool_choice: fields.tool_choice ?? "auto",
    parallel_tool_calls: fields.parallel_tool_calls ?? true,
    reasoning: fields.reasoning ?? { effort: null, summary: null },
    store: fields.store ?? true,
    text: fields.text ?? { format: { type: "text" } },
    metadata: fields.metadata ?? {},
    error: null,
  };
  const done = {
    ...base,
    status: cut ? "incomplete" : "completed",
    incomplete_details: cut ? { reason: "max_output_tokens" } : null,
    output,
    usage,
  };
  if (!fields.stream) {
    json(res, 200, done);
    return;
  }

  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  let sequence = 0;
  const send = (type: string, payload: Record<string, unknown>) =>
    new Promise<void>((resolve) =>
      res.write(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...payload })}\n\n`, () => resolve()),
    );
  const begun = { ...base, status: "in_progress", incomplete_details: null, output: [], usage: null };
  await send("response.created", { response: begun });
  await send("response.in_progress", { response: begun });
  let index = 0;
  if (reasoning) {
    await send("response.output_item.added", { output_index: index, item: { ...reasoningItem, summary: [], encrypted_content: undefined } });
    if (summary) {
      const at = { item_id: reasoningItem.id, output_index: index, summary_index: 0 };
      await send("response.reasoning_summary_part.added", { ...at, part: { type: "summary_text", text: "" } });
      for (const delta of ["Thinking ", "it over."]) await send("response.reasoning_summary_text.delta", { ...at, delta });
      await send("response.reasoning_summary_text.done", { ...at, text: summary });
      await send("response.reasoning_summary_part.done", { ...at, part: { type: "summary_text", text: summary } });
    }
    await send("response.output_item.done", { output_index: index, item: reasoningItem });
    index++;
  }
  if (answer.toolCalls) {
    for (const item of output.slice(index)) {
      const args = String(item.arguments);
      await send("response.output_item.added", { output_index: index, item: { ...item, status: "in_progress", arguments: "" } });
      const half = Math.ceil(args.length / 2);
      for (const delta of [args.slice(0, half), args.slice(half)]) {
        await send("response.function_call_arguments.delta", { item_id: item.id, output_index: index, delta });
      }
      await send("response.function_call_arguments.done", { item_id: item.id, output_index: index, arguments: args });
      await send("response.output_item.done", { output_index: index, item });
      index++;
    }
  } else {
    const at = { item_id: messageId, output_index: index, content_index: 0 };
    await send("response.output_item.added", { output_index: index, item: { ...messageItem, status: "in_progress", content: [] } });
    await send("response.content_part.added", { ...at, part: { ...part, text: "" } });
    const deltas = step?.kind === "small_deltas" ? (text.match(new RegExp(`[^]{1,${step.chars}}`, "g")) ?? []) : text.split(/(?<= )/);
    for (const [i, delta] of deltas.entries()) {
      if (step?.kind === "break_stream" && i === step.afterChunks) {
        dropConnection(res);
        return;
      }
      if (step?.kind === "fail_stream" && i === step.afterChunks) {
        await send("response.failed", {
          response: {
            ...base,
            status: "failed",
            error: { code: "server_error", message: "The model broke down (scripted)." },
            output: [],
            usage: null,
          },
        });
        res.end();
        return;
      }
      await send("response.output_text.delta", { ...at, delta, logprobs: [] });
    }
    await send("response.output_text.done", { ...at, text, logprobs: [] });
    await send("response.content_part.done", { ...at, part });
    await send("response.output_item.done", { output_index: index, item: messageItem });
  }
  await send(cut ? "response.incomplete" : "response.completed", { response: done });
  res.end();
}
