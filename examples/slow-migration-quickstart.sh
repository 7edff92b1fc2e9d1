#!/usr/bin/env bash
# The quick start of docs/migration/slow.md: a slow migration from the example legacy app
# (examples/legacy-app) into a fresh `portcullis serve --dev`, ending in migrated users who log in.
#
# Start both first (see the guide), then:
#
#   KEY=<the key serve --dev printed> examples/slow-migration-quickstart.sh
#
# PORTCULLIS (default http://127.0.0.1:9011) and LEGACY (default http://127.0.0.1:8081) say where
# they listen. Needs curl and jq. It creates a group with a fixed name, so it runs once per
# database. crates/cli/tests/it/quickstart.rs runs this file against a real server and the example
# app, and checks that the guide shows the commands below verbatim.
set -euo pipefail

# --- the commands of the guide, from here to the end ---
PORTCULLIS=${PORTCULLIS:-http://127.0.0.1:9011}
LEGACY=${LEGACY:-http://127.0.0.1:8081}
: "${KEY:?set KEY to the API key portcullis serve --dev printed}"

# 1. What the legacy users land on: an application with their roles, and the group the REST
#    connector maps the legacy group "staff" to. Portcullis never creates roles or groups for a
#    legacy system; ones they lack are dropped.
TENANT_ID=$(curl -sS --fail-with-body -H "Authorization: $KEY" "$PORTCULLIS/api/tenant" \
  | jq -r '.tenants[] | select(.name == "Default") | .id')
APP_ID=$(curl -sS --fail-with-body -H "Authorization: $KEY" -H 'Content-Type: application/json' \
  "$PORTCULLIS/api/application" \
  -d '{"application": {"name": "Shop", "roles": [{"name": "admin"}, {"name": "user"}]}}' \
  | jq -r .application.id)
curl -sS --fail-with-body -H "Authorization: $KEY" -H 'Content-Type: application/json' \
  "$PORTCULLIS/api/group" -d '{"group": {"name": "employees"}}' > /dev/null

# 2. Two connectors to the legacy app, one per contract.
GENERIC_ID=$(jq -n --arg url "$LEGACY/fusionauth/login" '{connector: {
    type: "Generic", name: "legacy app (Generic)", authenticationURL: $url,
    headers: {Authorization: "Bearer legacy-secret"}, connectTimeout: 1000, readTimeout: 2000}}' \
  | curl -sS --fail-with-body -H "Authorization: $KEY" -H 'Content-Type: application/json' \
      "$PORTCULLIS/api/connector" -d @- \
  | jq -r .connector.id)
REST_ID=$(jq -n --arg url "$LEGACY/keycloak/users" --arg app "$APP_ID" '{connector: {
    type: "RESTMigration", name: "legacy app (REST)", baseURL: $url, bearerToken: "legacy-secret",
    applicationId: $app, migrateUnmappedRoles: true,
    groupMap: {staff: "employees"}, migrateUnmappedGroups: false}}' \
  | curl -sS --fail-with-body -H "Authorization: $KEY" -H 'Content-Type: application/json' \
      "$PORTCULLIS/api/connector" -d @- \
  | jq -r .connector.id)

# 3. The tenant's connector policies, tried in order for a login id Portcullis does not have:
#    emails at legacy.example go to the Generic endpoint, everyone else to the REST one.
jq -n --arg generic "$GENERIC_ID" --arg rest "$REST_ID" '{tenant: {connectorPolicies: [
    {connectorId: $generic, domains: ["legacy.example"], migrate: true},
    {connectorId: $rest, domains: ["*"], migrate: true}]}}' \
  | curl -sS --fail-with-body -X PATCH -H "Authorization: $KEY" -H 'Content-Type: application/json' \
      "$PORTCULLIS/api/tenant/$TENANT_ID" -d @- > /dev/null

# 4. First logins. Alice (by email, Generic) and Bob (by username, REST) are migrated and get a
#    token (200); their roles land on the application the login names.
for login in 'alice@legacy.example alice-password' 'bob bob-password'; do
  read -r LOGIN_ID PASSWORD <<< "$login"
  jq -n --arg id "$LOGIN_ID" --arg pw "$PASSWORD" --arg app "$APP_ID" \
      '{loginId: $id, password: $pw, applicationId: $app}' \
    | curl -sS --fail-with-body -H "Authorization: $KEY" -H 'Content-Type: application/json' \
        "$PORTCULLIS/api/login" -d @- \
    | jq -c '{email: .user.email, roles: .user.registrations[0].roles, token: (.token[0:16] + "...")}'
done

# 5. Carol must change her password (the legacy app says so): her first login migrates her and
#    answers 203 with a changePasswordId; the new password, set with it, is the one she logs in with.
CHANGE_ID=$(jq -n --arg app "$APP_ID" \
    '{loginId: "carol", password: "carol-password", applicationId: $app}' \
  | curl -sS --fail-with-body -H "Authorization: $KEY" -H 'Content-Type: application/json' \
      "$PORTCULLIS/api/login" -d @- \
  | jq -r .changePasswordId)
curl -sS --fail-with-body -H 'Content-Type: application/json' \
  "$PORTCULLIS/api/user/change-password/$CHANGE_ID" -d '{"password": "carol-new-password"}'
jq -n --arg app "$APP_ID" '{loginId: "carol", password: "carol-new-password", applicationId: $app}' \
  | curl -sS --fail-with-body -H "Authorization: $KEY" -H 'Content-Type: application/json' \
      "$PORTCULLIS/api/login" -d @- \
  | jq -c '{email: .user.email, roles: .user.registrations[0].roles, groups: [.user.memberships[]?.groupId]}'

# 6. Alice as Portcullis keeps her: migrated, by which connector, with her registration.
curl -sS --fail-with-body -H "Authorization: $KEY" "$PORTCULLIS/api/user?email=alice@legacy.example" \
  | jq '.user | {email, migrated: .data.migrated, connectorId, registrations: [.registrations[] | {applicationId, roles}]}'
