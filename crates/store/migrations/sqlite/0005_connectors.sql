-- Slow migration: connector resources and exact daily counters of what each connector did per
-- tenant (users migrated, logins served, answers and failures by kind). Counters, not scans: the
-- migration status reads a few hundred rows whatever the number of users.
CREATE TABLE connectors (
  id TEXT PRIMARY KEY,
  body TEXT NOT NULL,
  insert_instant BIGINT NOT NULL
);

CREATE TABLE connector_stats (
  tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  connector_id TEXT NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
  -- Days since 1970-01-01 (UTC).
  day BIGINT NOT NULL,
  outcome TEXT NOT NULL,
  n BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, connector_id, day, outcome)
);
