-- Webhooks and their delivery from the `events` outbox. `secret` is the Standard Webhooks
-- secret (`whsec_...`), kept as HMAC needs it and never answered after the create.
CREATE TABLE webhooks (
  id TEXT PRIMARY KEY,
  body TEXT NOT NULL,
  secret TEXT NOT NULL,
  insert_instant BIGINT NOT NULL
);

-- How far the fan-out has read the outbox: events up to `seq` have their attempts. It starts
-- at the current end: events older than every webhook go nowhere.
CREATE TABLE webhook_cursor (
  name TEXT PRIMARY KEY,
  seq BIGINT NOT NULL
);
INSERT INTO webhook_cursor (name, seq) SELECT 'events', COALESCE(MAX(seq), 0) FROM events;

-- One row per (event, webhook): `pending` until a 2xx (`succeeded`) or its maximum age
-- (`failed`, the dead letters). A node's claim moves `next_attempt_at` to the claim's end,
-- so an attempt whose node died is due again then.
CREATE TABLE webhook_attempts (
  id TEXT PRIMARY KEY,
  event_id TEXT NOT NULL,
  webhook_id TEXT NOT NULL,
  tenant_id TEXT,
  event_type TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  window_start BIGINT NOT NULL,
  claimed_by TEXT,
  last_status BIGINT,
  last_error TEXT,
  event_instant BIGINT NOT NULL,
  insert_instant BIGINT NOT NULL,
  last_attempt_instant BIGINT,
  delivered_instant BIGINT,
  UNIQUE (event_id, webhook_id)
);
CREATE INDEX webhook_attempts_due_ix ON webhook_attempts (webhook_id, status, next_attempt_at);
CREATE INDEX webhook_attempts_status_ix ON webhook_attempts (status, event_instant);

-- FusionAuth's Event Log: what went wrong beside the requests (a webhook attempt dead-lettered).
CREATE TABLE event_logs (
  id TEXT PRIMARY KEY,
  insert_instant BIGINT NOT NULL,
  type TEXT NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX event_logs_time_ix ON event_logs (insert_instant);
