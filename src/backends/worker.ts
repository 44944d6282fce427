/**
 * `worker`: a backend written by the operator as its own Worker, reached over
 * a service binding with Workers RPC. It implements the contract of
 * `./contract.ts` (describe, healthCheck, chat, complete, embed, classify;
 * streams as a ReadableStream of NDJSON lines). docs/write-your-own-backend.md
 * walks through one.
 *
 * The backend is handed the one binding its config names, after the checks
 * that the operator granted it to the tenant (src/config/bindings.ts); never
 * `env`. Everything the Worker answers is untrusted input: each answer is
 * checked with the contract's schemas. What holds for every backend holds
 * here: the shared retry loop (timeouts, retries of retryable failures), the
 * first-token timeout of streams, and the refusal by name of any parameter the
 * Worker did not declare in `describe()`.
 */
import { z } from "zod";
import { CommonConfig } from "../config/common";
import { BINDING_NAME } from "../config/bindings";
import { GatewayError } from "../errors";
import {
  BACKEND_ERROR_CODES,
  WORKER_PARAMS,
  WorkerDescription,
  WorkerHealth,
  WorkerStreamEvent,
  type BackendContract,
  type WorkerParam,
} from "./contract";
import { streamOrWhole } from "./generate";
import { timedCheck } from "./health";
import { refuseExtras, unsupportedParam } from "./params";
import { forCall, retrying, timing, type RetryPolicy } from "./retry";
import { Classification, Embeddings, Generation } from "./shapes";
import { ndjsonEvents, type StreamPiece } from "./stream";
import { parseAnswer } from "./wire";
import type { BackendFactory, CallOptions, ChatRequest, CompletionRequest, Declared, ModelBackend } from "./types";

const Config = CommonConfig.extend({
  binding: z.string().regex(BINDING_NAME, "must be the name of a service binding granted to this tenant, such as MY_BACKEND"),
  /** Passed to every call, for a Worker that serves several models; no `${…}`: a backend Worker holds its own secrets. */
  model: z
    .string()
    .regex(/^[\w.:/@-]{1,256}$/, "must be a model name (letters, digits and . : / @ _ -)")
    .optional(),
}).strict();
type Config = z.output<typeof Config>;

/** The binding as the gateway sees it: every answer unknown until checked. */
type Untrusted = { [Method in keyof BackendContract]: (...args: Parameters<BackendContract[Method]>) => Promise<unknown> };

/** How long a Worker's description is trusted before it is asked again. */
const DESCRIPTION_TTL_MS = 60_000;

export const worker = {
  configSchema: Config,
  supports: ["chat", "completion", "embedding", "classification"],
  // Registration asks the Worker itself (`declared`); these are never reached for a worker model.
  defaultCapabilities: () => ["chat"],
  defaultFeatures: () => [],
  upstreamUrls: () => [],
  binding: "backend Worker (service binding)",
  serviceBinding: (config) => ({ field: "config.binding", name: config.binding }),

  async declared(config, deps): Promise<Declared> {
    const label = labelOf(config);
    const stub = bound(deps.service, label);
    const policy: RetryPolicy = { label, ...timing(config), maxRetries: 0 };
    const description = parseAnswer(
      WorkerDescription,
      await retrying(policy, (signal) => rpc(() => stub.describe(config.model ?? null), label, signal)),
      `${label} describe()`,
    );
    return { capabilities: description.capabilities, features: description.features };
  },

  create(config, deps): ModelBackend {
    const label = labelOf(config);
    const model = config.model ?? null;
    const policy: RetryPolicy = { label, ...timing(config) };
    let description: { at: number; value: Promise<z.output<typeof WorkerDescription>> } | undefined;

    const stub = () => bound(deps.service, label);
    /** One RPC through the shared retry loop. */
    const run = (call: (s: Untrusted) => Promise<unknown>, options?: CallOptions) =>
      retrying(forCall(policy, options), (signal) => rpc(() => call(stub()), label, signal));

    /** The Worker's description, asked at most once a minute per instance. */
    const describe = (options?: CallOptions) => {
      if (!description || Date.now() - description.at > DESCRIPTION_TTL_MS) {
        const value = run((s) => s.describe(model), options).then((answer) => parseAnswer(WorkerDescription, answer, `${label} describe()`));
        value.catch(() => (description = undefined));
        description = { at: Date.now(), value };
      }
      return description.value;
    };

    /** Refuse what the Worker does not declare: the capability, then each parameter by name. */
    const admit = async (capability: Declared["capabilities"][number], request: object, options?: CallOptions) => {
      const declared = await describe(options);
      if (!declared.capabilities.includes(capability)) {
        throw new GatewayError(
          "unsupported_capability",
          `${label} does not declare ${capability} (it declares ${declared.capabilities.join(", ")}).`,
        );
      }
      for (const param of WORKER_PARAMS) {
        const value = Reflect.get(request, param);
        if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
        if (!declared.params.includes(param)) throw unsupportedParam(param, label, "does not declare this parameter in describe()");
      }
    };

    const generate = async (method: "chat" | "complete", body: Record<string, unknown> & { stream?: never }, options: CallOptions | undefined) => {
      const forThis = forCall(policy, options);
      return streamOrWhole(
        {
          async connect(signal) {
            const answer = await rpc(() => stub()[method]({ ...body, stream: true } as never), label, signal);
            if (!(answer instanceof ReadableStream)) throw new GatewayError("upstream_error", `${label} did not return a stream when asked for one.`);
            return answer as ReadableStream<Uint8Array>;
          },
          whole: async () => parseAnswer(Generation, await run((s) => s[method]({ ...body, stream: false } as never), options), label),
          events: ndjsonEvents,
          piece: (event) => streamPiece(event),
        },
        options,
        forThis,
      );
    };

    return {
      healthCheck: () =>
        timedCheck(async () => {
          const answer = parseAnswer(
            WorkerHealth,
            await retrying({ ...policy, maxRetries: 0 }, (signal) => rpc(() => stub().healthCheck(model), label, signal)),
            `${label} healthCheck()`,
          );
          if (!answer.ok) throw new GatewayError("upstream_error", `${label} reports itself unhealthy: ${answer.detail ?? "no detail"}`);
          return answer.detail ?? null;
        }),
      async chat(request: ChatRequest, options) {
        refuseExtras(request.extra, label);
        await admit("chat", request, options);
        const { extra: _extra, ...rest } = request;
        return generate("chat", { ...declaredOnly(rest), model, messages: request.messages }, options);
      },
      async complete(request: CompletionRequest, options) {
        refuseExtras(request.extra, label);
        await admit("completion", request, options);
        const { extra: _extra, ...rest } = request;
        return generate("complete", { ...declaredOnly(rest), model, prompt: request.prompt }, options);
      },
      async embed(request, options) {
        await admit("embedding", request, options);
        const answer = parseAnswer(Embeddings, await run((s) => s.embed({ model, input: request.input }), options), label);
        if (answer.embeddings.length !== request.input.length) {
          throw new GatewayError("upstream_error", `${label} returned ${answer.embeddings.length} embeddings for ${request.input.length} inputs.`);
        }
        return answer;
      },
      async classify(request, options) {
        await admit("classification", request, options);
        return parseAnswer(Classification, await run((s) => s.classify({ model, text: request.text, labels: request.labels }), options), label);
      },
    };
  },
} satisfies BackendFactory<typeof Config>;

function labelOf(config: Config): string {
  return `backend Worker ${config.binding}${config.model ? ` (model ${config.model})` : ""}`;
}

/** The granted binding, or a clear error when the deployment lacks it. */
function bound(service: unknown, label: string): Untrusted {
  if (!service || typeof service !== "object") {
    throw new GatewayError("model_unavailable", `${label} is not bound: the service binding is missing from this deployment.`);
  }
  return service as Untrusted;
}

/** Only the contract's parameters go over the wire (the rest of a request is the gateway's own). */
function declaredOnly(request: object): Partial<Record<WorkerParam, unknown>> {
  return Object.fromEntries(
    WORKER_PARAMS.flatMap((param) => (Reflect.get(request, param) === undefined ? [] : [[param, Reflect.get(request, param)]])),
  );
}

/** One RPC, given up when `signal` aborts; what the Worker threw read into a GatewayError. */
async function rpc(call: () => Promise<unknown>, label: string, signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) throw signal.reason;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([call(), aborted]);
  } catch (error) {
    if (signal.aborted) throw error; // the retry loop reports the timeout or the cancellation
    throw workerError(error, label);
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}

const CODED = /^([a-z_]+): ([\s\S]*)$/;

/** The contract's error codes (`backendError`) in the gateway's terms; anything else is an outage, retried. */
function workerError(error: unknown, label: string): GatewayError {
  const text = (error instanceof Error ? error.message : String(error)).slice(0, 1000);
  const match = CODED.exec(text);
  const code = match?.[1] && Object.hasOwn(BACKEND_ERROR_CODES, match[1]) ? (match[1] as keyof typeof BACKEND_ERROR_CODES) : undefined;
  const detail = code ? (match?.[2] ?? "") : text;
  switch (code) {
    case "invalid_request":
      return new GatewayError("invalid_request", `${label} rejected the request: ${detail}`);
    case "context_length_exceeded":
      return new GatewayError("context_length_exceeded", `${label} says the request is too long for the model: ${detail}`);
    case "content_filtered":
      return new GatewayError("content_filtered", `${label} refused the request under its content policy: ${detail}`);
    case "rate_limited":
      return new GatewayError("rate_limited", `${label} is over capacity or rate limited: ${detail}`, { retryable: true, retryAfter: 1 });
    default:
      return new GatewayError("upstream_error", `${label} failed: ${detail}`, { retryable: true });
  }
}

/** One NDJSON line of a streamed answer, checked against the contract. */
function streamPiece(event: unknown): StreamPiece {
  const parsed = WorkerStreamEvent.safeParse(event);
  if (!parsed.success) return { error: "a stream line in an unexpected shape" };
  const line = parsed.data;
  return {
    text: line.text,
    toolCalls: line.tool_calls,
    finish: line.finish_reason,
    usage: line.usage,
    error: line.error,
    done: line.finish_reason !== undefined || line.error !== undefined,
  };
}
