/** Vitest globalSetup (Node side): start the fake upstreams and hand their URLs to the tests. */
import type { TestProject } from "vitest/node";
import { startFakeOpenAI } from "./fake-openai";

export default async function setup(project: TestProject) {
  const openai = await startFakeOpenAI();
  project.provide("openaiUrl", openai.url);
  return async () => {
    await openai.close();
  };
}
