-- Searches by the start of an email or username ("ann*"), over one tenant or all of them: the
-- search writes the start as a range in code-point order (`COLLATE "C"`), which these indexes
-- serve whatever the database's collation. SQLite compares in code-point order already and
-- reads its (tenant, email) and (tenant, username) indexes.
CREATE INDEX users_email_prefix_ix ON users ((email_lower COLLATE "C"));
CREATE INDEX users_username_prefix_ix ON users ((username_lower COLLATE "C"));
