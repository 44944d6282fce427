-- Tenant directory: which tenants exist. Everything else a tenant owns lives in
-- its own Durable Object.
CREATE TABLE tenants (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- Append-only record of admin actions: who did what to which object, and when.
-- `detail` is JSON and never holds secret values.
CREATE TABLE audit_log (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  tenant_id TEXT,
  actor     TEXT NOT NULL,
  action    TEXT NOT NULL,
  target    TEXT,
  detail    TEXT
);
CREATE INDEX audit_log_tenant_at ON audit_log (tenant_id, at);
