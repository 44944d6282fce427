/**
 * A tenant's OpenTelemetry export: where its spans go (OTLP/HTTP), how
 * (protobuf or JSON), with which headers (`${SECRET}` references, bound to the
 * collector's host like every secret), how many traces (a sampling ratio), and
 * whether prompt and answer text may go too (off by default). Stored in the
 * tenant's Durable Object, carried in its snapshot, checked when set and again
 * when spans are sent (a secret's hosts may have changed since).
 */
import { z } from "zod";
import { assertNoLiteralSecrets, assertReferencesAllowed, type SecretGrant } from "../config/secrets";
import { assertUpstreamUrl } from "../config/urls";

/** An HTTP header name (RFC 9110 token). */
const HeaderName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/, "must be an HTTP header name");

export const TelemetryExport = z.strictObject({
  endpoint: z.string().max(2048).describe("The collector's OTLP/HTTP traces URL, e.g. https://otel.example.com/v1/traces"),
  protocol: z.enum(["http/protobuf", "http/json"]).default("http/protobuf").describe("OTLP encoding: protobuf (default) or JSON"),
  headers: z
    .record(HeaderName, z.string().max(1024))
    .refine((h) => Object.keys(h).length <= 16, "at most 16 headers")
    .default({})
    .describe('Headers sent with each export; credentials as "${NAME}" or "Bearer ${NAME}" secret references bound to the endpoint\'s host'),
  sampling_ratio: z
    .number()
    .min(0)
    .max(1)
    .default(1)
    .describe("Share of traces exported (0 to 1); a caller's sampled traceparent is always followed"),
  capture_content: z.boolean().default(false).describe("Export prompt and answer text (redacted of secrets); off by default"),
});
export type TelemetryExport = z.output<typeof TelemetryExport>;

/**
 * Check an export against the URL policy upstreams follow and the secret rules
 * model config follows: no literal credential in a header, and every reference
 * a secret this tenant may send to the endpoint's host. Throws the first problem.
 */
export function checkTelemetryExport(config: TelemetryExport, grants: readonly SecretGrant[], allowedPrivateHosts: ReadonlySet<string>): URL {
  const url = assertUpstreamUrl(config.endpoint, "endpoint", allowedPrivateHosts);
  assertNoLiteralSecrets({ headers: config.headers });
  assertReferencesAllowed({ headers: config.headers }, [{ field: "endpoint", host: url.hostname }], grants);
  return url;
}
