#!/usr/bin/env bash
# The migration story, runnable: a legacy PHP app behind Apache's mod_auth_openidc signs people in
# at Portcullis; the app's old users (its own SQLite table) move to Portcullis the first time they
# sign in, through a Generic connector that calls the app's small login API.
#
#   examples/legacy-php/run.sh              # starts it all, prints what to open; Ctrl-C stops it
#   examples/legacy-php/run.sh -- CMD ...   # once it is all up, runs CMD, then stops it all and
#                                           # exits with CMD's status (the browser test does this)
#
# Environment (all optional):
#   PORTCULLIS, KEY   a running Portcullis and an API key with all permissions; without them the
#                     script starts `portcullis serve --dev` on PORTCULLIS_PORT (default 9011)
#   PORTCULLIS_BIN    the portcullis command (default: on PATH, else target/debug/portcullis)
#   APP_PORT          the loopback port Apache listens on (default 8080)
# CMD gets APP_URL, PORTCULLIS, KEY and APP_ID in its environment.
#
# Needs apache2, libapache2-mod-php, php-sqlite3, libapache2-mod-auth-openidc, curl and jq. Apache
# runs in the foreground with its own config, pid file and logs in a temporary directory; the
# system's apache2 service is neither used nor touched.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
APP_PORT=${APP_PORT:-8080}
APP_URL="http://127.0.0.1:$APP_PORT"
# An example secret between Portcullis and the legacy login API; choose your own in production.
LEGACY_TOKEN=${LEGACY_TOKEN:-example-legacy-token}

cmd=()
if [ "${1:-}" = "--" ]; then
    shift
    cmd=("$@")
fi

for tool in apache2 php curl jq; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] \
        || { echo "run.sh: $tool is missing (see examples/legacy-php/README.md)" >&2; exit 1; }
done
modules=/usr/lib/apache2/modules
php_module=$(ls "$modules"/libphp*.so 2>/dev/null | head -n 1 || true)
for m in "$modules/mod_auth_openidc.so" "$php_module"; do
    [ -n "$m" ] && [ -f "$m" ] \
        || { echo "run.sh: an Apache module is missing (${m:-libphp*.so}): install libapache2-mod-php and libapache2-mod-auth-openidc" >&2; exit 1; }
done
php -r 'exit(class_exists("SQLite3") ? 0 : 1);' \
    || { echo "run.sh: PHP's SQLite3 extension is missing: install php-sqlite3" >&2; exit 1; }

tmp=$(mktemp -d -t legacy-php.XXXXXX)
pids=()
stop() {
    local status=$?
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$tmp"
    exit "$status"
}
trap stop EXIT
trap 'exit 130' INT TERM

wait_for() { # URL WHAT LOG
    for _ in $(seq 150); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.2
    done
    echo "run.sh: $2 did not answer at $1" >&2
    [ -z "${3:-}" ] || cat "$3" >&2
    exit 1
}

# --- Portcullis -----------------------------------------------------------------------------
if [ -z "${PORTCULLIS:-}" ]; then
    bin=${PORTCULLIS_BIN:-$(command -v portcullis || echo "$root/target/debug/portcullis")}
    [ -x "$bin" ] || { echo "run.sh: no portcullis at $bin (cargo build -p portcullis)" >&2; exit 1; }
    PORTCULLIS="http://127.0.0.1:${PORTCULLIS_PORT:-9011}"
    "$bin" serve --dev --bind "${PORTCULLIS#http://}" --database "sqlite://$tmp/portcullis.db" \
        > "$tmp/portcullis.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 150); do
        grep -q '^Portcullis listening' "$tmp/portcullis.log" && break
        kill -0 "${pids[-1]}" 2>/dev/null || break
        sleep 0.2
    done
    grep -q '^Portcullis listening' "$tmp/portcullis.log" \
        || { echo "run.sh: portcullis did not start:" >&2; cat "$tmp/portcullis.log" >&2; exit 1; }
    KEY=$(sed -n 's/^Development API key (all permissions): //p' "$tmp/portcullis.log")
fi
: "${KEY:?set KEY with PORTCULLIS: an API key with all permissions}"
PORTCULLIS=${PORTCULLIS%/}

api() { # METHOD PATH [BODY]
    curl -sS --fail-with-body -X "$1" -H "Authorization: $KEY" -H 'Content-Type: application/json' \
        "$PORTCULLIS$2" ${3:+-d "$3"}
}

# --- Portcullis' side of the migration --------------------------------------------------------
# 1. The issuer is Portcullis' own URL: mod_auth_openidc checks the ID token's `iss` against it.
TENANT_ID=$(api GET /api/tenant | jq -r '.tenants[] | select(.name == "Default") | .id')
api PATCH "/api/tenant/$TENANT_ID" "$(jq -n --arg iss "$PORTCULLIS" '{tenant: {issuer: $iss}}')" >/dev/null

# 2. The PHP app as an OAuth client: its roles, mod_auth_openidc's redirect URI, where Portcullis
#    sends the browser after signing out, and the code flow (with refresh tokens). The client
#    secret is answered once, here.
app=$(api POST /api/application "$(jq -n --arg cb "$APP_URL/redirect_uri" --arg out "$APP_URL/signed-out.html" '
    {application: {name: "Legacy PHP app", roles: [{name: "admin"}, {name: "user"}],
     oauthConfiguration: {authorizedRedirectURLs: [$cb], logoutURL: $out,
                          enabledGrants: ["authorization_code", "refresh_token"]}}}')")
APP_ID=$(jq -r .application.id <<< "$app")
CLIENT_SECRET=$(jq -r .application.oauthConfiguration.clientSecret <<< "$app")

# 3. The connector to the legacy app's login API, and the tenant's policy: any login id that
#    Portcullis does not have is asked there, and a right password migrates the user.
CONNECTOR_ID=$(api POST /api/connector "$(jq -n --arg url "$APP_URL/legacy/login.php" --arg t "$LEGACY_TOKEN" '
    {connector: {type: "Generic", name: "Legacy PHP app", authenticationURL: $url,
     headers: {Authorization: ("Bearer " + $t)}, connectTimeout: 2000, readTimeout: 5000}}')" \
    | jq -r .connector.id)
api PATCH "/api/tenant/$TENANT_ID" "$(jq -n --arg c "$CONNECTOR_ID" '
    {tenant: {connectorPolicies: [{connectorId: $c, domains: ["*"], migrate: true}]}}')" >/dev/null

# --- The legacy app: its users table and Apache ------------------------------------------------
mkdir -p "$tmp/apache/run"
cp -r "$here/www" "$tmp/www"
php "$here/legacy-users.php" "$tmp/legacy.sqlite"
# Apache's children run as www-data when it is started as root: they read the pages and the table.
chmod 755 "$tmp"
chmod -R a+rX "$tmp/www"
chmod 644 "$tmp/legacy.sqlite"

user_directives=""
if [ "$(id -u)" = 0 ]; then
    user_directives=$'User www-data\nGroup www-data'
fi
cat > "$tmp/apache/apache2.conf" <<EOF
ServerRoot "$tmp/apache"
ServerName 127.0.0.1
Listen 127.0.0.1:$APP_PORT
PidFile "$tmp/apache/run/apache2.pid"
DefaultRuntimeDir "$tmp/apache/run"
ErrorLog "$tmp/apache/error.log"
LogLevel warn auth_openidc:info
$user_directives

LoadModule mpm_prefork_module $modules/mod_mpm_prefork.so
LoadModule authn_core_module $modules/mod_authn_core.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule authz_user_module $modules/mod_authz_user.so
LoadModule dir_module $modules/mod_dir.so
LoadModule env_module $modules/mod_env.so
LoadModule mime_module $modules/mod_mime.so
LoadModule php_module $php_module
LoadModule auth_openidc_module $modules/mod_auth_openidc.so
StartServers 2
MinSpareServers 2
MaxSpareServers 4
MaxRequestWorkers 16

TypesConfig /etc/mime.types
LogFormat "%h \"%r\" %>s" short
CustomLog "$tmp/apache/access.log" short
DocumentRoot "$tmp/www"
DirectoryIndex index.php
<FilesMatch "\.php$">
    SetHandler application/x-httpd-php
</FilesMatch>
<Directory "$tmp/www">
    Require all granted
</Directory>

# The relying party: Portcullis' discovery document names every endpoint and the signing keys.
OIDCProviderMetadataURL $PORTCULLIS/.well-known/openid-configuration
OIDCClientID $APP_ID
OIDCClientSecret $CLIENT_SECRET
OIDCRedirectURI $APP_URL/redirect_uri
OIDCCryptoPassphrase $(head -c 24 /dev/urandom | base64)
OIDCScope "openid profile email"
OIDCPKCEMethod S256
OIDCRemoteUserClaim email

# Every page of the app needs a signed-in person, except the signed-out page and the login API
# Portcullis calls (the bearer token guards that one).
<Location />
    AuthType openid-connect
    Require valid-user
</Location>
<Location /signed-out.html>
    AuthType None
    Require all granted
</Location>
<Location /legacy/>
    AuthType None
    Require all granted
    SetEnv LEGACY_DB "$tmp/legacy.sqlite"
    SetEnv LEGACY_TOKEN "$LEGACY_TOKEN"
</Location>
EOF

apache=$(command -v apache2 || echo /usr/sbin/apache2)
# In its own session: Apache's parent signals its whole process group when it stops.
setsid "$apache" -f "$tmp/apache/apache2.conf" -DFOREGROUND &
pids+=($!)
wait_for "$APP_URL/signed-out.html" "Apache" "$tmp/apache/error.log"

if [ ${#cmd[@]} -gt 0 ]; then
    set +e
    APP_URL=$APP_URL PORTCULLIS=$PORTCULLIS KEY=$KEY APP_ID=$APP_ID "${cmd[@]}"
    status=$?
    set -e
    if [ "$status" != 0 ]; then
        echo "--- Apache's error log ---" >&2
        cat "$tmp/apache/error.log" >&2
    fi
    exit "$status"
fi

cat <<EOF

The legacy PHP app is at $APP_URL/ (Portcullis at $PORTCULLIS).
Open it, sign in as alice@legacy.example / alice-password (or bob / bob-password): a user that
exists only in the app's old table. The page shows the name and roles from Portcullis' claims, and
the user is now in Portcullis:

  curl -s -H 'Authorization: $KEY' '$PORTCULLIS/api/user?email=alice@legacy.example' | jq .user

Apache's log: $tmp/apache/error.log. Ctrl-C stops everything.
EOF
wait "${pids[-1]}"
