-- Two-factor state beside the user's stored methods: pending logins (kind `login`, the
-- twoFactorId's SHA-256), trusted computers (`trust`, the trust id's SHA-256), emailed codes
-- (`email`, SHA-256 of the user and the code) and codes already used (`used`, the TOTP step or
-- the recovery code's hash: a second insert of the same key fails, so a code is used once).
CREATE TABLE two_factor_rows (
  token_key TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  expires_instant BIGINT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX two_factor_rows_user_ix ON two_factor_rows (user_id);
CREATE INDEX two_factor_rows_expires_ix ON two_factor_rows (expires_instant);
