-- User search: the default order (id; new ids are UUIDv7, so mostly the order of creation) of a
-- tenant's users, and the "who signed in since" ranges. Emails, usernames and registrations'
-- applications have theirs.
-- The expression is the one `search.rs` writes, so the planner matches it.
CREATE INDEX users_tenant_id_ix ON users (tenant_id, id);
CREATE INDEX users_tenant_last_login_ix ON users (tenant_id, json_extract(body, '$.lastLoginInstant'));
