-- Login and tokens: per-tenant signing keys, refresh tokens (SHA-256 only), change-password ids,
-- failed-login counts and locks. In the database so that every node shares them.
CREATE TABLE signing_keys (
  kid TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  algorithm TEXT NOT NULL,
  secret TEXT NOT NULL,
  status TEXT NOT NULL,
  insert_instant BIGINT NOT NULL,
  -- A retiring key is published until its last token has expired, then dropped.
  expires_instant BIGINT
);
CREATE INDEX signing_keys_tenant_ix ON signing_keys (tenant_id);

CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  id TEXT NOT NULL,
  family_id TEXT NOT NULL,
  tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
  start_instant BIGINT NOT NULL,
  insert_instant BIGINT NOT NULL,
  expires_instant BIGINT NOT NULL,
  used_instant BIGINT
);
CREATE INDEX refresh_tokens_family_ix ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_ix ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_application_ix ON refresh_tokens (application_id);

CREATE TABLE change_password_ids (
  id_hash TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  expires_instant BIGINT NOT NULL
);
CREATE INDEX change_password_ids_user_ix ON change_password_ids (user_id);

CREATE TABLE login_failures (
  tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  subject TEXT NOT NULL,
  instant BIGINT NOT NULL
);
CREATE INDEX login_failures_subject_ix ON login_failures (tenant_id, subject, instant);

CREATE TABLE login_locks (
  tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  subject TEXT NOT NULL,
  until_instant BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, subject)
);
