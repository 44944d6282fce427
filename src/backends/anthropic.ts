/**
 * `anthropic`: Anthropic's Messages API (`POST /v1/messages`, key in
 * `x-api-key`, `anthropic-version`), or any server that speaks it. Chat and
 * completion are translated from the gateway's typed call
 * (./anthropic-wire.ts); a `/v1/messages` request is sent as its caller wrote
 * it (`chatNative`, see src/inference/call.ts), and its events come back as
 * the upstream sent them. Timeouts, retries (429 with retry-after, 5xx and
 * Anthropic's 529 "overloaded") and error mapping are the shared ones of
 * `./http.ts`.
 */
import { z } from "zod";
import { CommonConfig, Headers, HttpUrl, ModelName } from "../config/common";
import { anthropicEvents, messageGeneration, messagesBody } from "./anthropic-wire";
import { httpGeneration, type HttpGeneration } from "./generate";
import { timedCheck } from "./health";
import { GatewayError } from "../errors";
import { forCall, jsonGet, jsonPost, timing, upstreamJson, type UpstreamPolicy } from "./http";
import { sseEvents } from "./stream";
import type { BackendFactory, CallOptions, ChatRequest, Generation, ModelBackend, NativeGeneration, NativeRequest } from "./types";

export const ANTHROPIC_VERSION = "2023-06-01";

const Config = CommonConfig.extend({
  base_url: HttpUrl.default("https://api.anthropic.com"),
  model_name: ModelName,
  api_key: z.string().min(1),
  anthropic_version: z.string().min(1).max(64).default(ANTHROPIC_VERSION),
  headers: Headers.optional(),
}).strict();

/** What count_tokens answers (https://docs.anthropic.com/en/api/messages-count-tokens). */
const TokenCount = z.object({ input_tokens: z.number().int().min(0) });

/** Request headers a native caller sends that the upstream should see: the API version it wrote against and its beta flags. */
const FORWARDED = ["anthropic-beta", "anthropic-version"] as const;

export const anthropic = {
  configSchema: Config,
  supports: ["chat", "completion"],
  defaultCapabilities: () => ["chat", "completion"],
  // Every current Claude model takes tools, images and structured outputs.
  // Prefill: the Messages API continues a final assistant message (a model that refuses it answers 400, which the probe records).
  defaultFeatures: () => ["tools", "vision", "json_schema", "prefill"],
  upstreamUrls: (config) => [{ field: "config.base_url", url: config.base_url }],

  create(config, deps): ModelBackend {
    const base = config.base_url.replace(/\/+$/, "");
    const label = `Anthropic upstream ${new URL(config.base_url).host}`;
    const headers = { ...config.headers, "x-api-key": config.api_key, "anthropic-version": config.anthropic_version };
    const policy: Omit<UpstreamPolicy, "signal"> = { label, ...timing(config), fetch: deps.fetch };
    const url = `${base}/v1/messages`;
    // A new event reader per stream attempt: it numbers the tool calls of one stream.
    const generation = (body: HttpGeneration["body"], native: boolean, extra: Record<string, string> = {}): HttpGeneration => ({
      url,
      body,
      headers: { ...headers, ...extra },
      streamAccept: "text/event-stream",
      events: sseEvents,
      piece: anthropicEvents(native),
      // A native call's whole answer goes back as the upstream wrote it.
      parse: native ? (json, at) => ({ ...messageGeneration(json, at), native: json as Record<string, unknown> }) : messageGeneration,
    });
    const chat = (request: ChatRequest, options?: CallOptions): Promise<Generation> =>
      httpGeneration(
        generation((stream) => messagesBody(config.model_name, request, stream, label), false),
        policy,
        options,
      );

    return {
      // GET /v1/models/{model} spends no tokens, and says whether the key and the model are good.
      healthCheck: () =>
        timedCheck(async () => {
          await upstreamJson(`${base}/v1/models/${encodeURIComponent(config.model_name)}`, jsonGet(headers), { ...policy, maxRetries: 0 });
          return null;
        }),
      chat,
      complete: (request, options) => {
        const { prompt, ...rest } = request;
        return chat({ ...rest, messages: [{ role: "user", content: prompt }] }, options);
      },
      native: {
        format: "anthropic",
        /**
         * The caller's Messages body as it wrote it, `model` replaced by the
         * config's; `stream` as the call streams (the edge asked for it).
         */
        chat(native: NativeRequest, options?: CallOptions): Promise<NativeGeneration> {
          const forwarded = Object.fromEntries(FORWARDED.flatMap((name) => (native.headers[name] ? [[name, native.headers[name]]] : [])));
          const body = (stream: boolean) => {
            const { stream: _asked, ...rest } = native.body;
            return { ...rest, model: config.model_name, ...(stream && { stream: true }) };
          };
          return httpGeneration(generation(body, true, forwarded), policy, options);
        },
        /** POST /v1/messages/count_tokens: the caller's body as written, `model` replaced by the config's. */
        async countTokens(native: NativeRequest, options?: CallOptions): Promise<number> {
          const forwarded = Object.fromEntries(FORWARDED.flatMap((name) => (native.headers[name] ? [[name, native.headers[name]]] : [])));
          const body = { ...native.body, model: config.model_name };
          const answer = await upstreamJson(
            `${base}/v1/messages/count_tokens`,
            jsonPost(body, { ...headers, ...forwarded }),
            forCall(policy, options),
          );
          const counted = TokenCount.safeParse(answer);
          if (!counted.success) throw new GatewayError("upstream_error", `${label} answered count_tokens without input_tokens.`);
          return counted.data.input_tokens;
        },
      },
    };
  },
} satisfies BackendFactory<typeof Config>;
