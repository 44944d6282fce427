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

/** Per image; all of one call's images together; images by URL per call; fetched at once; time per image. */
export const IMAGE_LIMITS = { bytes: 10 * 1024 * 1024, callBytes: 12 * 1024 * 1024, perRequest: 8, concurrency: 2, timeoutMs: 15_000 } as const;

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

/**
 * One loader per call: it counts the images it fetches and the bytes they
 * hold. At most `concurrency` images are fetched at once, each read straight
 * into base64 as it arrives (no second copy of the bytes), and all of a call's
 * images together may hold at most `callBytes`: an isolate has 128 MB for
 * every request it serves, and a call's images are held three times over on
 * their way upstream (bytes, base64, the JSON body). The first image that
 * fails cancels the others of the call, fetching or waiting.
 */
export function imageLoader(fetch: typeof globalThis.fetch, allowedPrivateHosts: ReadonlySet<string>): ImageLoader {
  let fetched = 0;
  let bytesLeft = IMAGE_LIMITS.callBytes;
  const failed = new AbortController();
  const slot = limiter(IMAGE_LIMITS.concurrency);
  // `declared`: only check that a body of that size would fit (a Content-Length, before reading).
  const take = (bytes: number, declared = false) => {
    if (bytesLeft - bytes < 0) throw refuse(`the images of one request may hold at most ${IMAGE_LIMITS.callBytes / (1024 * 1024)} MiB in all`);
    if (!declared) bytesLeft -= bytes;
  };
  return async (url, signal) => {
    if (url.startsWith("data:")) return dataUrl(url);
    const target = assertUpstreamUrl(url, "image_url.url", allowedPrivateHosts);
    if (++fetched > IMAGE_LIMITS.perRequest) throw refuse(`at most ${IMAGE_LIMITS.perRequest} images by URL per request for this model`);
    try {
      return await slot(() => {
        if (failed.signal.aborted) throw refuse(`not fetched: another image of this request failed`);
        return fetchImage(fetch, target, AbortSignal.any([failed.signal, ...(signal ? [signal] : [])]), take);
      });
    } catch (error) {
      failed.abort();
      throw error;
    }
  };
}

type Take = (bytes: number, declared?: boolean) => void;

async function fetchImage(fetch: typeof globalThis.fetch, target: URL, signal: AbortSignal, take: Take) {
  const timeout = AbortSignal.timeout(IMAGE_LIMITS.timeoutMs);
  let response: Response;
  try {
    response = await fetch(target, { headers: { accept: "image/*" }, redirect: "manual", signal: AbortSignal.any([signal, timeout]) });
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
  return { mediaType, base64: await readBase64(response, target.host, take) };
}

/** The body as base64, encoded as it arrives (3 bytes at a time make 4 characters), within the caps. */
async function readBase64(response: Response, host: string, take: Take): Promise<string> {
  const tooBig = () => refuse(`the image at ${host} is larger than ${IMAGE_LIMITS.bytes / (1024 * 1024)} MiB`);
  const declared = Number(response.headers.get("content-length") ?? 0);
  const reader = response.body!.getReader();
  const out: string[] = [];
  let carry = new Uint8Array(0);
  let size = 0;
  try {
    if (declared > IMAGE_LIMITS.bytes) throw tooBig();
    take(declared, true);
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > IMAGE_LIMITS.bytes) throw tooBig();
      take(value.byteLength);
      const joined = carry.length === 0 ? value : concat(carry, value);
      const whole = joined.length - (joined.length % 3);
      out.push(toBase64(joined.subarray(0, whole)));
      carry = joined.slice(whole);
    }
  } catch (error) {
    void reader.cancel().catch(() => {});
    throw error instanceof GatewayError ? error : refuse(`the image at ${host} could not be read: ${(error as Error).message}`);
  }
  out.push(toBase64(carry));
  return out.join("");
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const both = new Uint8Array(a.length + b.length);
  both.set(a);
  both.set(b, a.length);
  return both;
}

/** Run at most `n` of the given tasks at once; the rest wait their turn. */
function limiter(n: number) {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (running >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await task();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function refuse(why: string): GatewayError {
  return new GatewayError("invalid_request", `image_url.url: ${why}.`);
}
