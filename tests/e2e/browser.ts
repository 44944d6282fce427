/**
 * A real browser for the e2e tests: Debian's Chromium driven by playwright-core,
 * and a small PNG decoder to look at its screenshots.
 *
 * Chromium is a system package, not an npm dependency. CI installs it (.ci/run),
 * so there a missing browser is a failure; a fresh dev machine may have only
 * Node, so there the browser tests are skipped with a hint.
 */
import { existsSync } from "node:fs";
import { inflateSync } from "node:zlib";
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM_PATH = "/usr/bin/chromium";

export type BrowserAvailability = { run: true } | { run: false; required: boolean; reason: string };

/** Whether the browser tests can run here; `required` (in CI) means a missing browser is a failure, not a skip. */
export function browserAvailability(): BrowserAvailability {
  if (existsSync(CHROMIUM_PATH)) return { run: true };
  const required = Boolean(process.env.CI);
  const reason = required
    ? `${CHROMIUM_PATH} not found, and CI must test the status page in Chromium: install it (apt-get install chromium; see .ci/run).`
    : `${CHROMIUM_PATH} not found: skipping the status page tests in Chromium. To run them: sudo apt-get install chromium`;
  return { run: false, required, reason };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

export interface Image {
  width: number;
  height: number;
  /** RGBA, 4 bytes a pixel, row by row. */
  rgba: Uint8Array;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Decode a PNG as Chromium writes screenshots: 8 bits per channel, RGB or RGBA
 * (grey and grey+alpha too), not interlaced. Anything else throws.
 */
export function decodePng(png: Buffer): Image {
  if (!png.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error("not a PNG (bad signature)");
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString("latin1", offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    offset += 12 + length; // length, type, data, CRC
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [depth, colourType, , , interlace] = [data[8], data[9], data[10], data[11], data[12]];
      const perType: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };
      channels = perType[colourType ?? -1] ?? 0;
      if (depth !== 8 || channels === 0 || interlace !== 0) {
        throw new Error(`unsupported PNG: bit depth ${depth}, colour type ${colourType}, interlace ${interlace}`);
      }
    } else if (type === "IDAT") {
      idat.push(data);
    } else if (type === "IEND") {
      break;
    }
  }
  if (width === 0 || height === 0) throw new Error("PNG without IHDR");
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  if (raw.length !== height * (stride + 1)) throw new Error(`PNG data is ${raw.length} bytes, expected ${height * (stride + 1)}`);

  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[out + x - channels]! : 0;
      const b = y > 0 ? pixels[out - stride + x]! : 0;
      const c = x >= channels && y > 0 ? pixels[out - stride + x - channels]! : 0;
      let predictor = 0;
      if (filter === 1) predictor = a;
      else if (filter === 2) predictor = b;
      else if (filter === 3) predictor = (a + b) >> 1;
      else if (filter === 4) predictor = paeth(a, b, c);
      else if (filter !== 0) throw new Error(`bad PNG filter ${filter} on row ${y}`);
      pixels[out + x] = (line[x]! + predictor) & 0xff;
    }
  }

  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const p = pixels.subarray(i * channels, (i + 1) * channels);
    const grey = channels <= 2;
    rgba[i * 4] = p[0]!;
    rgba[i * 4 + 1] = grey ? p[0]! : p[1]!;
    rgba[i * 4 + 2] = grey ? p[0]! : p[2]!;
    rgba[i * 4 + 3] = channels === 4 ? p[3]! : channels === 2 ? p[1]! : 255;
  }
  return { width, height, rgba };
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** `#rrggbb` to [r, g, b]. */
export function hex(colour: string): [number, number, number] {
  const n = Number.parseInt(colour.replace(/^#/, ""), 16);
  return [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}

/** How many opaque pixels are within `tolerance` (per channel) of a colour. */
export function countColour(image: Image, colour: string, tolerance = 2): number {
  const [r, g, b] = hex(colour);
  let count = 0;
  for (let i = 0; i < image.rgba.length; i += 4) {
    if (
      image.rgba[i + 3] === 255 &&
      Math.abs(image.rgba[i]! - r) <= tolerance &&
      Math.abs(image.rgba[i + 1]! - g) <= tolerance &&
      Math.abs(image.rgba[i + 2]! - b) <= tolerance
    ) {
      count++;
    }
  }
  return count;
}

/** How many different colours the image uses (a blank page has one). */
export function distinctColours(image: Image): number {
  const seen = new Set<number>();
  for (let i = 0; i < image.rgba.length; i += 4) {
    seen.add(((image.rgba[i]! << 16) | (image.rgba[i + 1]! << 8) | image.rgba[i + 2]!) >>> 0);
  }
  return seen.size;
}
