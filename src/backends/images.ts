/**
 * Images a caller sends by URL, for upstreams that take bytes instead (Ollama's
 * `images`, Workers AI's data URLs). OpenAI-style upstreams get the URL itself
 * and fetch it themselves; only these two make the gateway fetch. Such a fetch
 * is a request to a host the caller chose, so it follows the upstream URL
 * rules (`assertUpstreamUrl`: https, no private networks, no redirects), sends
 * no credentials, and is capped in size, count and time.
 */
import { assertUpstreamUrl } from "../config/urls";
import { GatewayError } from "../errors";
import type { ImageLoader } from "./types";

export const IMAGE_LIMITS = { bytes: 10 * 1024 * 1024, perRequest: 8, timeoutMs: 15_000 } as const;

const DATA_URL = /^data:(image\/[a-z0-9.+-]+);base64,([a-z0-9+/=\s]*)$/i;

/**
 * The image formats every upstream that takes images accepts, by the bytes
 * each file starts with. An image given inline is checked here, so a payload
 * that is not what it claims is the caller's 400, not an upstream's 500.
 */
const MAGIC: Record<string, (bytes: Uint8Array) => boolean> = {
  "image/png": (b) => [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((v, i) => b[i] === v),
  "image/jpeg": (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  "image/gif": (b) => ascii(b, 0, 6) === "GIF87a" || ascii(b, 0, 6) === "GIF89a",
  "image/webp": (b) => ascii(b, 0, 4) === "RIFF" && ascii(b, 8, 12) === "WEBP",
};

function ascii(bytes: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...bytes.subarray(from, to));
}

/** What is wrong with an inline image (base64 of one of the formats above), or null when it is one. */
export function inlineImageProblem(mediaType: string, base64: string): string | null {
  const starts = MAGIC[mediaType.toLowerCase()];
  if (!starts) return `${mediaType} is not supported inline; send ${Object.keys(MAGIC).join(", ")}`;
  if (base64.length === 0) return "it holds no image";
  if (base64.length % 4 !== 0 || !/^[a-z0-9+/]*={0,2}$/i.test(base64)) return "its data is not valid base64";
  let head: Uint8Array;
  try {
    head = Uint8Array.from(atob(base64.slice(0, 16)), (c) => c.charCodeAt(0));
  } catch {
    return "its data is not valid base64";
  }
  return starts(head) ? null : `its data is not a ${mediaType.slice("image/".length).toUpperCase()} image`;
}

/** A `data:` URL's media type and base64 payload, or a 400 saying what is wrong with it. */
export function dataUrl(url: string): { mediaType: string; base64: string } {
  const match = DATA_URL.exec(url);
  if (!match) throw refuse("a data: URL must be data:image/<type>;base64,<data>");
  const base64 = match[2]!.replace(/\s+/g, "");
  const mediaType = match[1]!.toLowerCase();
  const problem = inlineImageProblem(mediaType, base64);
  if (problem) throw refuse(`the data: URL's image: ${problem}`);
  return { mediaType, base64 };
}

/** Null for an https URL or a valid data: URL image; otherwise what is wrong with the data: URL. */
export function dataUrlProblem(url: string): string | null {
  if (!/^data:/i.test(url)) return null;
  try {
    dataUrl(url);
    return null;
  } catch (error) {
    return error instanceof GatewayError ? error.message.replace(/^image_url\.url: /, "").replace(/\.$/, "") : "not a valid data: URL";
  }
}

/** One loader per call: it counts the images it fetches. */
export function imageLoader(fetch: typeof globalThis.fetch, allowedPrivateHosts: ReadonlySet<string>): ImageLoader {
  let fetched = 0;
  return async (url, signal) => {
    if (url.startsWith("data:")) return dataUrl(url);
    const target = assertUpstreamUrl(url, "image_url.url", allowedPrivateHosts);
    if (++fetched > IMAGE_LIMITS.perRequest) throw refuse(`at most ${IMAGE_LIMITS.perRequest} images by URL per request for this model`);
    const timeout = AbortSignal.timeout(IMAGE_LIMITS.timeoutMs);
    let response: Response;
    try {
      response = await fetch(target, {
        headers: { accept: "image/*" },
        redirect: "manual",
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch {
      throw refuse(`the image at ${target.host} could not be fetched within ${IMAGE_LIMITS.timeoutMs / 1000} s`);
    }
    // Only the host is named: a URL's path and query may carry tokens.
    if (!response.ok) {
      void response.body?.cancel().catch(() => {});
      const why = response.status >= 300 && response.status < 400 ? "redirected (redirects are not followed)" : `answered ${response.status}`;
      throw refuse(`the image at ${target.host} ${why}`);
    }
    const mediaType = (response.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (!mediaType.startsWith("image/")) {
      void response.body?.cancel().catch(() => {});
      throw refuse(`${target.host} answered ${mediaType || "something"} instead of an image`);
    }
    return { mediaType, base64: toBase64(await readCapped(response, target.host)) };
  };
}

async function readCapped(response: Response, host: string): Promise<Uint8Array> {
  const tooBig = () => refuse(`the image at ${host} is larger than ${IMAGE_LIMITS.bytes / (1024 * 1024)} MiB`);
  if (Number(response.headers.get("content-length") ?? 0) > IMAGE_LIMITS.bytes) {
    void response.body?.cancel().catch(() => {});
    throw tooBig();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > IMAGE_LIMITS.bytes) {
      void reader.cancel().catch(() => {});
      throw tooBig();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function refuse(why: string): GatewayError {
  return new GatewayError("invalid_request", `image_url.url: ${why}.`);
}
