#!/usr/bin/env bash
# The microservices-gateway story, runnable: Portcullis (set up by kickstart.json), the gateway
# (gateway.toml) and the shop's services: a public product catalog, an inventory for admins that
# trusts the gateway's headers, and an inventory that verifies the gateway's signed assertion.
#
#   examples/shop/run.sh              # builds portcullis if needed, starts it all, prints the
#                                     # URLs; Ctrl-C stops it all
#   examples/shop/run.sh -- CMD ...   # once it is all up, runs CMD, then stops it all and exits
#                                     # with CMD's status (the browser test does this)
#
# Environment (all optional):
#   PORTCULLIS_BIN      the portcullis binary (default: `cargo build -p portcullis`'s)
#   DATABASE            Portcullis' database (default: SQLite in a temporary directory); an empty
#                       PostgreSQL database or schema works too
#   PORTCULLIS_PORT 9011, GATEWAY_PORT 3000, CATALOG_PORT 3001, INVENTORY_PORT 3002,
#   VERIFIED_PORT 3003  the loopback ports
# CMD gets PORTCULLIS, KEY, GATEWAY_URL, CATALOG_URL, INVENTORY_URL and VERIFIED_URL.
#
# Needs node and curl.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
PORTCULLIS_PORT=${PORTCULLIS_PORT:-9011}
GATEWAY_PORT=${GATEWAY_PORT:-3000}
CATALOG_PORT=${CATALOG_PORT:-3001}
INVENTORY_PORT=${INVENTORY_PORT:-3002}
VERIFIED_PORT=${VERIFIED_PORT:-3003}
PORTCULLIS="http://127.0.0.1:$PORTCULLIS_PORT"
GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT"
CATALOG_URL="http://127.0.0.1:$CATALOG_PORT"
INVENTORY_URL="http://127.0.0.1:$INVENTORY_PORT"
VERIFIED_URL="http://127.0.0.1:$VERIFIED_PORT"

cmd=()
if [ "${1:-}" = "--" ]; then
    shift
    cmd=("$@")
fi

for tool in node curl; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing" >&2; exit 1; }
done
if [ -z "${PORTCULLIS_BIN:-}" ]; then
    echo "run.sh: building portcullis (cargo build -p portcullis)"
    (cd "$root" && cargo build -q -p portcullis)
    PORTCULLIS_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/portcullis"
fi
[ -x "$PORTCULLIS_BIN" ] || { echo "run.sh: no portcullis at $PORTCULLIS_BIN" >&2; exit 1; }

tmp=$(mktemp -d -t shop.XXXXXX)
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

# wait_for URL WHAT LOG PID: until PID answers at URL. A process that has exited (its port was
# taken, say) never counts as answering, even when another process answers on that port.
wait_for() {
    for _ in $(seq 150); do
        kill -0 "$4" 2>/dev/null || break
        curl -s -o /dev/null "$1" && kill -0 "$4" 2>/dev/null && return 0
        sleep 0.2
    done
    echo "run.sh: $2 did not answer at $1" >&2
    cat "$3" >&2
    exit 1
}
random() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }

# The API key and the gateway's client secret are made for this run; Kickstart reads them (and
# the gateway's URL, for its redirect URI) from the environment.
export SHOP_API_KEY=$(random) SHOP_CLIENT_SECRET=$(random) SHOP_GATEWAY_URL=$GATEWAY_URL
KEY=$SHOP_API_KEY

# --- Portcullis -------------------------------------------------------------------------------
"$PORTCULLIS_BIN" serve --bind "127.0.0.1:$PORTCULLIS_PORT" \
    --database "${DATABASE:-sqlite://$tmp/portcullis.db}" --kickstart "$here/kickstart.json" \
    > "$tmp/portcullis.log" 2>&1 &
pids+=($!)
for _ in $(seq 150); do
    grep -q '^Portcullis listening' "$tmp/portcullis.log" && break
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.2
done
grep -q '^Portcullis listening' "$tmp/portcullis.log" \
    || { echo "run.sh: portcullis did not start:" >&2; cat "$tmp/portcullis.log" >&2; exit 1; }

# --- The services -----------------------------------------------------------------------------
PORT=$CATALOG_PORT node "$here/services/catalog.mjs" > "$tmp/catalog.log" 2>&1 &
pids+=($!) catalog=$!
PORT=$INVENTORY_PORT node "$here/services/inventory.mjs" > "$tmp/inventory.log" 2>&1 &
pids+=($!) inventory=$!
PORT=$VERIFIED_PORT GATEWAY_URL=$GATEWAY_URL SELF_URL=$VERIFIED_URL \
    node "$here/services/inventory-verified.mjs" > "$tmp/inventory-verified.log" 2>&1 &
pids+=($!) verified=$!

# --- The gateway: gateway.toml with this run's ports -------------------------------------------
sed -e "s#127.0.0.1:9011#@P@#g; s#127.0.0.1:3000#@G@#g; s#127.0.0.1:3001#@C@#g" \
    -e "s#127.0.0.1:3002#@I@#g; s#127.0.0.1:3003#@V@#g" \
    -e "s#@P@#127.0.0.1:$PORTCULLIS_PORT#g; s#@G@#127.0.0.1:$GATEWAY_PORT#g" \
    -e "s#@C@#127.0.0.1:$CATALOG_PORT#g; s#@I@#127.0.0.1:$INVENTORY_PORT#g; s#@V@#127.0.0.1:$VERIFIED_PORT#g" \
    "$here/gateway.toml" > "$tmp/gateway.toml"
"$PORTCULLIS_BIN" gateway --config "$tmp/gateway.toml" > "$tmp/gateway.log" 2>&1 &
pids+=($!) gateway=$!

wait_for "$CATALOG_URL/products" "the catalog" "$tmp/catalog.log" "$catalog"
wait_for "$INVENTORY_URL/" "the inventory" "$tmp/inventory.log" "$inventory"
wait_for "$VERIFIED_URL/" "the verifying inventory" "$tmp/inventory-verified.log" "$verified"
wait_for "$GATEWAY_URL/healthz" "the gateway" "$tmp/gateway.log" "$gateway"

if [ ${#cmd[@]} -gt 0 ]; then
    set +e
    PORTCULLIS=$PORTCULLIS KEY=$KEY GATEWAY_URL=$GATEWAY_URL CATALOG_URL=$CATALOG_URL \
        INVENTORY_URL=$INVENTORY_URL VERIFIED_URL=$VERIFIED_URL "${cmd[@]}"
    status=$?
    set -e
    if [ "$status" != 0 ]; then
        for log in gateway portcullis; do
            echo "--- $log log (last 40 lines) ---" >&2
            tail -n 40 "$tmp/$log.log" >&2
        done
    fi
    exit "$status"
fi

cat <<EOF

The shop is up:
  gateway            $GATEWAY_URL   (open $GATEWAY_URL/branches/1/products in a browser)
  Portcullis         $PORTCULLIS    (API key: $KEY)
  catalog            $CATALOG_URL
  inventory          $INVENTORY_URL
  inventory (verifying the assertion)  $VERIFIED_URL
Users: admin@shop.example (role admin) and shopper@shop.example; their passwords are in
examples/shop/kickstart.json. examples/shop/README.md has the curl calls.
Logs: $tmp/*.log (the gateway's access log: $tmp/gateway.log). Ctrl-C stops everything.
EOF
wait "${pids[0]}"
