/** Vitest globalSetup (Node side): start the fake upstreams and hand their URLs to the tests. */
import type { TestProject } from "vitest/node";
import { startFakeAnthropic } from "./fake-anthropic";
import { startFakeHF } from "./fake-hf";
import { startFakeOllama } from "./fake-ollama";
import { startFakeOpenAI } from "./fake-openai";

export default async function setup(project: TestProject) {
  const [openai, ollama, hf, anthropic] = await Promise.all([startFakeOpenAI(), startFakeOllama(), startFakeHF(), startFakeAnthropic()]);
  project.provide("openaiUrl", openai.url);
  project.provide("ollamaUrl", ollama.url);
  project.provide("hfUrl", hf.url);
  project.provide("anthropicUrl", anthropic.url);
  return async () => {
    await Promise.all([openai.close(), ollama.close(), hf.close(), anthropic.close()]);
  };
}
