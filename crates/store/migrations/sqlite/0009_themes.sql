-- Themes of the hosted pages, one per row, each owned by a tenant (`tenant.themeId` names the
-- one its pages use). The body is the theme's JSON: templates, stylesheet and messages.
CREATE TABLE themes (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  body TEXT NOT NULL,
  insert_instant BIGINT NOT NULL
);

CREATE INDEX themes_tenant ON themes (tenant_id);
