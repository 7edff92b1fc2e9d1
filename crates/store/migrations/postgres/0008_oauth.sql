-- OAuth 2.0 / OpenID Connect: authorization codes and SSO sessions, kept as the SHA-256 of their
-- secret (never the code or the cookie), in the database so that every node honours them.
CREATE TABLE oauth_codes (
  code_hash TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  redirect_uri TEXT NOT NULL,
  code_challenge TEXT,
  nonce TEXT,
  scope TEXT NOT NULL,
  sid TEXT NOT NULL,
  auth_time BIGINT NOT NULL,
  expires_instant BIGINT NOT NULL,
  -- The refresh-token family the exchange issues; a second exchange revokes it.
  family_id TEXT NOT NULL,
  used_instant BIGINT
);
CREATE INDEX oauth_codes_user_ix ON oauth_codes (user_id);
CREATE INDEX oauth_codes_application_ix ON oauth_codes (application_id);
CREATE INDEX oauth_codes_expires_ix ON oauth_codes (expires_instant);

CREATE TABLE sso_sessions (
  id_hash TEXT PRIMARY KEY,
  sid TEXT NOT NULL,
  tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  auth_time BIGINT NOT NULL,
  expires_instant BIGINT NOT NULL
);
CREATE INDEX sso_sessions_user_ix ON sso_sessions (user_id);
CREATE INDEX sso_sessions_sid_ix ON sso_sessions (sid);
CREATE INDEX sso_sessions_expires_ix ON sso_sessions (expires_instant);
