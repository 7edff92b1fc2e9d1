-- The identity model. Each entity keeps its FusionAuth JSON in `body`; the columns beside it are
-- the ones we look up, join or constrain on.
CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  name_lower TEXT NOT NULL,
  body TEXT NOT NULL,
  insert_instant BIGINT NOT NULL
);
CREATE UNIQUE INDEX tenants_name_uq ON tenants (name_lower);

CREATE TABLE applications (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  body TEXT NOT NULL,
  insert_instant BIGINT NOT NULL
);
CREATE INDEX applications_tenant_ix ON applications (tenant_id);

CREATE TABLE user_groups (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name_lower TEXT NOT NULL,
  body TEXT NOT NULL,
  insert_instant BIGINT NOT NULL
);
CREATE UNIQUE INDEX user_groups_name_uq ON user_groups (tenant_id, name_lower);

CREATE TABLE users (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  email_lower TEXT,
  username_lower TEXT,
  body TEXT NOT NULL,
  pw_scheme TEXT,
  pw_factor BIGINT,
  pw_salt TEXT,
  pw_hash TEXT,
  insert_instant BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email_uq ON users (tenant_id, email_lower);
CREATE UNIQUE INDEX users_username_uq ON users (tenant_id, username_lower);

CREATE TABLE registrations (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
  body TEXT NOT NULL
);
CREATE UNIQUE INDEX registrations_user_application_uq ON registrations (user_id, application_id);
CREATE INDEX registrations_application_ix ON registrations (application_id);

CREATE TABLE group_members (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  group_id TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  body TEXT NOT NULL
);
CREATE UNIQUE INDEX group_members_group_user_uq ON group_members (group_id, user_id);
CREATE INDEX group_members_user_ix ON group_members (user_id);

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  key_hash TEXT NOT NULL,
  tenant_id TEXT REFERENCES tenants (id) ON DELETE CASCADE,
  body TEXT NOT NULL,
  insert_instant BIGINT NOT NULL
);
CREATE UNIQUE INDEX api_keys_key_hash_uq ON api_keys (key_hash);
