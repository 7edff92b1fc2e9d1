-- Events (MISSION §10), written in the transaction of the change they describe: the outbox the
-- webhooks will deliver from, in `seq` order. No foreign key to tenants: an event outlives what
-- it tells of (a deleted tenant's last events are still delivered).
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  tenant_id TEXT,
  type TEXT NOT NULL,
  create_instant BIGINT NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX events_type_ix ON events (type, seq);

-- Asynchronous import jobs. A body job keeps its request in `body` until it ends; a file job
-- keeps only the path of a file on the server.
CREATE TABLE import_jobs (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  state TEXT NOT NULL,
  file TEXT,
  body TEXT,
  users_total BIGINT,
  users_created BIGINT NOT NULL DEFAULT 0,
  users_updated BIGINT NOT NULL DEFAULT 0,
  errors TEXT,
  insert_instant BIGINT NOT NULL,
  start_instant BIGINT,
  finish_instant BIGINT
);
CREATE INDEX import_jobs_state_ix ON import_jobs (state, insert_instant);
