/**
 * The tenant Durable Object's SQLite schema, as numbered migrations. Each runs
 * once, in order; the pending ones run inside one transaction with the bump of
 * `schema_version`, so a crash leaves either the old schema or the new one.
 * See docs/storage.md.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: registry, keys and grants
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE models (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    description     TEXT,
    backend_type    TEXT NOT NULL,
    config          TEXT NOT NULL,
    capabilities    TEXT NOT NULL,
    fallbacks       TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'initializing',
    status_detail   TEXT,
    last_checked_at TEXT,
    latency_ms      REAL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
  );
  CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    hash       TEXT NOT NULL UNIQUE,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'user')),
    name       TEXT,
    created_at TEXT NOT NULL
  );
  CREATE TABLE grants (
    name       TEXT PRIMARY KEY,
    hosts      TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  `,
  // 2: health history and the failure streak behind the status hysteresis
  `
  ALTER TABLE models ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE health_checks (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id   TEXT NOT NULL,
    at         TEXT NOT NULL,
    source     TEXT NOT NULL CHECK (source IN ('scheduled', 'manual', 'call')),
    ok         INTEGER NOT NULL,
    status     TEXT NOT NULL,
    latency_ms REAL,
    detail     TEXT
  );
  CREATE INDEX health_checks_model ON health_checks (model_id, id);
  `,
  // 3: the tenant's own secrets, encrypted in the Worker (AES-GCM); never a value in clear
  `
  CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    ciphertext BLOB NOT NULL,
    iv         BLOB NOT NULL,
    key_id     TEXT NOT NULL,
    hosts      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  `,
  // 4: what each chat model can do beyond text (tools, vision, json_schema). Models stored before
  // features existed keep passing every request on, as they did: all three, until an admin says otherwise.
  `
  ALTER TABLE models ADD COLUMN features TEXT NOT NULL DEFAULT '["tools","vision","json_schema"]';
  `,
  // 5: when each model's next scheduled check is due (ms since the epoch; NULL: due now)
  `
  ALTER TABLE models ADD COLUMN next_check_at INTEGER;
  `,
  // 6: usage (hourly buckets, rolled up daily), spend per budget period, budgets, reservations of calls in flight
  `
  CREATE TABLE usage_hourly (
    hour              TEXT NOT NULL,
    key_id            TEXT NOT NULL,
    model_id          TEXT NOT NULL,
    requests          INTEGER NOT NULL,
    errors            INTEGER NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    estimated         INTEGER NOT NULL,
    cost_nano         INTEGER NOT NULL,
    PRIMARY KEY (hour, key_id, model_id)
  ) WITHOUT ROWID;
  CREATE TABLE usage_daily (
    day               TEXT NOT NULL,
    key_id            TEXT NOT NULL,
    model_id          TEXT NOT NULL,
    requests          INTEGER NOT NULL,
    errors            INTEGER NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    estimated         INTEGER NOT NULL,
    cost_nano         INTEGER NOT NULL,
    PRIMARY KEY (day, key_id, model_id)
  ) WITHOUT ROWID;
  CREATE TABLE usage_periods (
    scope     TEXT NOT NULL,
    period    TEXT NOT NULL CHECK (period IN ('day', 'month')),
    start     INTEGER NOT NULL,
    tokens    INTEGER NOT NULL,
    cost_nano INTEGER NOT NULL,
    PRIMARY KEY (scope, period, start)
  ) WITHOUT ROWID;
  CREATE TABLE budgets (
    scope      TEXT PRIMARY KEY,
    period     TEXT NOT NULL CHECK (period IN ('day', 'month')),
    tokens     INTEGER,
    cost_usd   REAL,
    updated_at TEXT NOT NULL
  );
  CREATE TABLE reservations (
    id         TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL,
    model_id   TEXT NOT NULL,
    tokens     INTEGER NOT NULL,
    cost_nano  INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX reservations_key ON reservations (key_id);
  CREATE TABLE usage_batches (id TEXT PRIMARY KEY, at INTEGER NOT NULL);
  `,
  // 7: each model's circuit breaker (src/inference/breaker.ts); no row means closed
  `
  CREATE TABLE breakers (
    model_id          TEXT PRIMARY KEY,
    open_until        INTEGER NOT NULL DEFAULT 0,
    openings          INTEGER NOT NULL DEFAULT 0,
    trial_until       INTEGER NOT NULL DEFAULT 0,
    failed_capability TEXT
  );
  `,
  // 8: what the capability probe found per feature (JSON: {tools?, json_schema?}, each {result, checked_at, detail?});
  // `features` keeps what was declared, and the two together make the model's effective features
  `
  ALTER TABLE models ADD COLUMN feature_checks TEXT NOT NULL DEFAULT '{}';
  `,
  // 9: stored Responses API answers (src/durable/response-store.ts): the response object and the
  // conversation up to it (the chat messages, for previous_response_id); bounded in age and number
  `
  CREATE TABLE responses (
    id           TEXT PRIMARY KEY,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    response     TEXT NOT NULL,
    conversation TEXT NOT NULL
  );
  CREATE INDEX responses_created ON responses (created_at);
  `,
  // 10: the parts of the token counts upstreams report: prompt tokens read from and written to their prompt caches
  // (priced apart), completion tokens spent on reasoning
  `
  ALTER TABLE usage_hourly ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE usage_hourly ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE usage_hourly ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE usage_daily ADD COLUMN cached_tokens INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE usage_daily ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE usage_daily ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
  `,
  // 11: a grant is of a Worker secret (bound to hosts) or of a service binding (a backend Worker for `worker` models)
  `
  ALTER TABLE grants ADD COLUMN kind TEXT NOT NULL DEFAULT 'secret' CHECK (kind IN ('secret', 'binding'));
  `,
  // 12: other names a client may use for a model (JSON array of strings); unique in the tenant across ids
  // and aliases, which src/durable/model-store.ts checks in the same synchronous write
  `
  ALTER TABLE models ADD COLUMN aliases TEXT NOT NULL DEFAULT '[]';
  `,
  // 13: large MCP tool results behind resource links (src/durable/result-store.ts): short-lived, per key,
  // bounded in total per tenant; the JSON text in chunks (rows are capped at 2 MB)
  `
  CREATE TABLE results (
    id         TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL,
    mime_type  TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX results_created ON results (created_at);
  CREATE TABLE result_chunks (
    id   TEXT NOT NULL,
    part INTEGER NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (id, part)
  );
  `,
  // 14: a model's load_balance is a field of the model (JSON: {strategy, targets, sticky?}; NULL: none), beside its
  // fallbacks; the previous version kept it in config.load_balance, so a pool stored there moves out of config here
  `
  ALTER TABLE models ADD COLUMN load_balance TEXT;
  UPDATE models
     SET load_balance = CASE WHEN json_type(config, '$.load_balance') = 'object' THEN json_extract(config, '$.load_balance') END,
         config = json_remove(config, '$.load_balance')
   WHERE json_type(config, '$.load_balance') IS NOT NULL;
  `,
];

/**
 * Apply the pending migrations, all in one transaction with the version bump (one
 * commit: a new tenant's object is created with one write, not one per migration).
 */
export function migrate(storage: DurableObjectStorage): number {
  const sql = storage.sql;
  return storage.transactionSync(() => {
    sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    const row = sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0];
    if (!row) sql.exec("INSERT INTO schema_version (version) VALUES (0)");
    const from = row?.version ?? 0;
    for (let version = from + 1; version <= MIGRATIONS.length; version++) sql.exec(MIGRATIONS[version - 1]!);
    if (from < MIGRATIONS.length) sql.exec("UPDATE schema_version SET version = ?", MIGRATIONS.length);
    return Math.max(from, MIGRATIONS.length);
  });
}
