/**
 * Local model servers `npm start` looks for, so the first run serves real
 * models when the machine has them: Ollama (`/api/tags`, and `/api/show` for
 * what each model can do) and LM Studio (`/api/v0/models`, which types each
 * model, else its OpenAI-compatible `/v1/models`). Each is asked with a short
 * timeout; one that is absent costs a refused connection and says nothing.
 * The URLs can be changed with DISCOVER_OLLAMA_URL and DISCOVER_LMSTUDIO_URL.
 */
const TIMEOUT_MS = 700;

const OLLAMA = (process.env.DISCOVER_OLLAMA_URL || "http://localhost:11434").replace(/\/+$/, "");
const LMSTUDIO = (process.env.DISCOVER_LMSTUDIO_URL || "http://localhost:1234").replace(/\/+$/, "");

async function getJson(url, init) {
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
    return response.ok ? await response.json() : undefined;
  } catch {
    return undefined; // not running here (or not answering in time): nothing to say
  }
}

/** A model id the gateway accepts, from a server's model name: `llama3.2:latest` -> `llama3.2`. */
export function modelId(name) {
  return name
    .toLowerCase()
    .replace(/:latest$/, "")
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[^a-z0-9]+/, "")
    .slice(0, 64);
}

/** Ollama's own word on a model (`/api/show` capabilities, Ollama >= 0.6); undefined: the gateway's defaults by name decide. */
async function ollamaCapabilities(name) {
  const shown = await getJson(`${OLLAMA}/api/show`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: name }),
  });
  const said = Array.isArray(shown?.capabilities) ? shown.capabilities : [];
  if (said.includes("embedding")) return ["embedding"];
  if (said.includes("completion")) return ["chat", "completion"];
  return undefined;
}

async function ollamaModels() {
  const tags = await getJson(`${OLLAMA}/api/tags`);
  if (!Array.isArray(tags?.models)) return [];
  return Promise.all(
    tags.models
      .map((m) => m?.name)
      .filter((name) => typeof name === "string")
      .map(async (name) => {
        const capabilities = await ollamaCapabilities(name);
        return {
          server: "Ollama",
          registration: {
            id: modelId(name),
            name: `${name} (Ollama)`,
            backend_type: "ollama",
            config: { base_url: OLLAMA, model_name: name },
            ...(capabilities && { capabilities }),
          },
        };
      }),
  );
}

async function lmStudioModels() {
  // LM Studio's own API says each model's type; its OpenAI-compatible list only names them.
  const typed = await getJson(`${LMSTUDIO}/api/v0/models`);
  const listed = Array.isArray(typed?.data) ? typed.data : (await getJson(`${LMSTUDIO}/v1/models`))?.data;
  if (!Array.isArray(listed)) return [];
  return listed
    .filter((m) => typeof m?.id === "string")
    .map((m) => ({
      server: "LM Studio",
      registration: {
        id: modelId(m.id),
        name: `${m.id} (LM Studio)`,
        backend_type: "openai_compatible",
        config: { base_url: `${LMSTUDIO}/v1`, model_name: m.id },
        ...(m.type === "embeddings"
          ? { capabilities: ["embedding"] }
          : m.type === "llm" || m.type === "vlm"
            ? { capabilities: ["chat", "completion"] }
            : {}),
      },
    }));
}

/** Every model the local servers list, as a registration for the gateway. */
export async function discoverLocalModels() {
  const [ollama, lmStudio] = await Promise.all([ollamaModels(), lmStudioModels()]);
  return [...ollama, ...lmStudio].filter((m) => m.registration.id !== "");
}
