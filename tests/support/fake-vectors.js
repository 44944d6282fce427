/**
 * The vectors the fakes answer for a text, defined once: the fake upstreams
 * (Node) and the fake AI binding (workerd, plain JS) answer with them, and
 * tests compute what to expect with them. Plain JS (typed by
 * fake-vectors.d.ts) so the workerd fake can load it without a build step.
 */

/** 8 numbers: the character codes summed per position modulo 8, over 1000 (Ollama, OpenAI-compatible, Workers AI). */
export function fakeVector8(text) {
  const v = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < text.length; i++) v[i % 8] += text.charCodeAt(i) / 1000;
  return v.map((x) => Math.round(x * 1e6) / 1e6);
}

/** Hugging Face feature-extraction: [characters, words, code of the first character]. */
export function fakeVector3(text) {
  return [text.length, text.split(" ").length, text.charCodeAt(0)];
}
