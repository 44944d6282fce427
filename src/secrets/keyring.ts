/**
 * The keys that protect tenant secrets, from Worker secrets: `SECRETS_KEY`
 * (encrypts everything new) and, during a rotation, `SECRETS_KEY_PREVIOUS`
 * (still decrypts what it encrypted until `POST /api/v1/tenants/:id/secrets/rotate`
 * re-encrypts it). Both imported once per isolate (see `crypto.ts`).
 */
import { settings } from "../settings";
import { importSecretsKey, type SecretKey } from "./crypto";

export interface Keyring {
  current: SecretKey;
  previous: SecretKey | null;
  /** Current first: the order decryption looks keys up in. */
  all: SecretKey[];
}

/**
 * The current key (required: without it no secret can be stored or opened) and
 * the previous one. An unusable previous key is left out rather than failing
 * every call: what it encrypted then reports that its key is missing.
 */
export async function keyring(env: Env): Promise<Keyring> {
  const { secretsKey, secretsKeyPrevious: previousText } = settings(env);
  const current = await importSecretsKey(secretsKey ?? "", "SECRETS_KEY");
  const previous =
    previousText === undefined
      ? null
      : await importSecretsKey(previousText, "SECRETS_KEY_PREVIOUS").catch((error: unknown) => {
          console.error("SECRETS_KEY_PREVIOUS ignored:", error instanceof Error ? error.message : "unusable");
          return null;
        });
  return { current, previous, all: previous && previous.id !== current.id ? [current, previous] : [current] };
}
