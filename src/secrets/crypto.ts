/**
 * Tenant secrets at rest: AES-256-GCM (WebCrypto), a fresh random 96-bit IV per
 * encryption, and `tenant id + secret name` as additional authenticated data,
 * so a ciphertext moved to another tenant or renamed no longer decrypts.
 *
 * The key comes from a Worker secret (`SECRETS_KEY`, see `keyring.ts`):
 * - exactly the base64 of 32 bytes (`openssl rand -base64 32`, what `npm start`
 *   writes): those bytes are the AES key;
 * - anything else of at least 16 characters: the AES key is HKDF-SHA-256 of its
 *   UTF-8 bytes with the fixed salt and info below (a passphrase still works,
 *   but is only as strong as it is long; prefer 32 random bytes);
 * - shorter or empty: refused, so a placeholder like "change-me" is never a key.
 *
 * Every key has an id (a short hash of the key), stored next to each ciphertext
 * so that decryption picks the right key and rotation knows what to re-encrypt.
 */
import { GatewayError } from "../errors";

export const HKDF_SALT = "mcp-model-gateway/secrets-key";
export const HKDF_INFO = "tenant secrets aes-256-gcm v1";
const KEY_ID_PREFIX = "mcp-model-gateway/key-id\0";
const MIN_PASSPHRASE = 16;
const RAW_KEY = /^[A-Za-z0-9+/]{43}=$/;

/** What is stored for one secret: never the value. */
export interface SealedSecret {
  ciphertext: ArrayBuffer;
  iv: ArrayBuffer;
  key_id: string;
}

export interface SecretKey {
  id: string;
  key: CryptoKey;
}

const utf8 = new TextEncoder();

// Imported keys, per isolate, by their source text (at most a current and a previous key in use).
const imported = new Map<string, Promise<SecretKey>>();

/** The AES key for a `SECRETS_KEY` value, imported once per isolate. `binding` names it in errors. */
export function importSecretsKey(material: string, binding = "SECRETS_KEY"): Promise<SecretKey> {
  const cached = imported.get(material);
  if (cached) return cached;
  if (material.length < MIN_PASSPHRASE) {
    return Promise.reject(
      new GatewayError(
        "internal",
        `${binding} is ${material ? "too short" : "not set"}; the operator must set it to 32 random bytes in base64 (wrangler secret put ${binding}).`,
      ),
    );
  }
  const loading = deriveKey(material);
  if (imported.size >= 8) imported.clear();
  imported.set(material, loading);
  loading.catch(() => imported.delete(material));
  return loading;
}

async function deriveKey(material: string): Promise<SecretKey> {
  const raw = RAW_KEY.test(material) ? fromBase64(material) : await hkdf(material);
  const digest = await crypto.subtle.digest("SHA-256", concat(utf8.encode(KEY_ID_PREFIX), raw));
  const key = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
  return { id: hex(new Uint8Array(digest).slice(0, 6)), key };
}

async function hkdf(material: string): Promise<Uint8Array<ArrayBuffer>> {
  const base = await crypto.subtle.importKey("raw", utf8.encode(material), "HKDF", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: utf8.encode(HKDF_SALT), info: utf8.encode(HKDF_INFO) },
    base,
    256,
  );
  return new Uint8Array(bits);
}

/** Binds a ciphertext to its tenant and name (NUL cannot occur in either). */
export function additionalData(tenantId: string, name: string): Uint8Array {
  return utf8.encode(`mcp-model-gateway/secret/v1\0${tenantId}\0${name}`);
}

export async function seal(key: SecretKey, tenantId: string, name: string, value: string): Promise<SealedSecret> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ciphertext = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: additionalData(tenantId, name) },
    key.key,
    utf8.encode(value),
  );
  return { ciphertext, iv: iv.buffer, key_id: key.id };
}

/**
 * The value of a sealed secret, with whichever of `keys` has its key id. Errors
 * say what to do and never carry the value or the key.
 */
export async function unseal(keys: readonly SecretKey[], tenantId: string, name: string, sealed: SealedSecret): Promise<string> {
  const key = keys.find((k) => k.id === sealed.key_id);
  if (!key) {
    throw new GatewayError(
      "model_unavailable",
      `Secret ${name} was encrypted with key ${sealed.key_id}, which this gateway no longer has (SECRETS_KEY is key ${keys[0]?.id ?? "unset"}). ` +
        `The operator can set the old key as SECRETS_KEY_PREVIOUS and rotate, or store the secret again with PUT /api/v1/secrets/${name}.`,
    );
  }
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: sealed.iv, additionalData: additionalData(tenantId, name) },
      key.key,
      sealed.ciphertext,
    );
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(plain);
  } catch {
    throw new GatewayError(
      "model_unavailable",
      `Secret ${name} could not be decrypted: it was not stored for this tenant under this name, or it was altered. Store it again with PUT /api/v1/secrets/${name}.`,
    );
  }
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
