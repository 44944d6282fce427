-- When each tenant's scheduled health checks are overdue, written by the tenant's own
-- Durable Object each time it arms its alarm (ms since the epoch: its alarm time plus a
-- grace period, or the time of its last run when its models are checked at every cron).
-- NULL: the tenant has nothing to check. 0: its object has not reported yet (a new tenant,
-- or one from before this column). The cron watchdog reads only rows at or past their
-- time, oldest first, a bounded number per run.
ALTER TABLE tenants ADD COLUMN health_overdue_at INTEGER DEFAULT 0;
CREATE INDEX tenants_health_overdue ON tenants (health_overdue_at);
