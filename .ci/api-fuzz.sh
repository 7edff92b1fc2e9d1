#!/usr/bin/env bash
# Fuzzes the HTTP API from its own OpenAPI document with schemathesis: a real `portcullis serve`
# on loopback, once on SQLite and once on PostgreSQL, a bounded number of generated requests per
# operation (valid and invalid ones), checking that no answer is a server error and that every
# answer matches its schema.
#
#   .ci/api-fuzz.sh                       # both backends
#   API_FUZZ_EXAMPLES=50 .ci/api-fuzz.sh  # more cases per operation
#   API_FUZZ_BACKENDS=sqlite .ci/api-fuzz.sh
#
# PostgreSQL must answer at PORTCULLIS_TEST_POSTGRES_URL (scripts/test starts one); the run uses
# a database of its own beside that URL's, made anew each time.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

examples="${API_FUZZ_EXAMPLES:-8}"
backends="${API_FUZZ_BACKENDS:-sqlite postgres}"
pg_url="${PORTCULLIS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"

# --- schemathesis, pinned -------------------------------------------------------------------
requirements="$root/tests/api-fuzz/requirements.txt"
pinned="$(sed -n 's/^schemathesis==//p' "$requirements")"
if [ "$(schemathesis --version 2>/dev/null | sed 's/.*version //')" != "$pinned" ]; then
    echo "api-fuzz: installing schemathesis $pinned"
    command -v pip3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3-pip >/dev/null; }
    pip3 install --quiet -r "$requirements" 2>/dev/null \
        || pip3 install --quiet --break-system-packages -r "$requirements"
fi

cargo build --locked -p portcullis
binary="$root/target/debug/portcullis"

work="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Runs the fuzz against a fresh server on database $2 (named $1 in the output).
fuzz() {
    local name="$1" database="$2"
    local key port log report
    key="fuzz-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
    port="$(free_port)"
    log="$work/$name-server.log"
    report="$work/$name-report"
    printf '{"apiKeys": [{"key": "%s", "description": "api-fuzz"}]}\n' "$key" > "$work/$name-kickstart.json"
    "$binary" serve --bind "127.0.0.1:$port" --database "$database" \
        --kickstart "$work/$name-kickstart.json" --log warn >"$log" 2>&1 &
    server=$!
    for _ in $(seq 100); do
        curl -fsS "http://127.0.0.1:$port/api/status" >/dev/null 2>&1 && break
        kill -0 "$server" 2>/dev/null || { cat "$log"; echo "api-fuzz: $name: the server exited"; return 1; }
        sleep 0.2
    done
    echo "api-fuzz: $name: fuzzing http://127.0.0.1:$port with $examples cases per operation"
    local status=0
    # One worker: Hypothesis raises and restores the recursion limit, which is process-wide, and
    # with worker threads racing on it CPython 3.11's parser fails at random (a SystemError).
    # Run from the scratch directory: schemathesis keeps a cache in the working directory.
    (cd "$work" && schemathesis run "http://127.0.0.1:$port/api/openapi.json" \
        --checks not_a_server_error,response_schema_conformance \
        --header "Authorization: $key" \
        --max-examples "$examples" \
        --phases examples,coverage,fuzzing \
        --workers 1 \
        --seed 20240601 \
        --request-timeout 20 \
        --suppress-health-check all \
        --report ndjson --report-dir "$report") || status=$?
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
    python3 "$root/tests/api-fuzz/summary.py" "$report"/*.ndjson "$name" || true
    if grep -q "panicked" "$log"; then
        grep -n -A3 "panicked" "$log" | head -40
        echo "api-fuzz: $name: the server panicked"
        status=1
    fi
    if [ "$status" -ne 0 ]; then
        echo "api-fuzz: $name: failed (server log: $log)"
        tail -n 40 "$log"
        return "$status"
    fi
}

for backend in $backends; do
    case "$backend" in
        sqlite) fuzz sqlite "sqlite://$work/fuzz.db" ;;
        postgres)
            if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
                echo "api-fuzz: no PostgreSQL answers at $pg_url (scripts/test starts one)"
                exit 1
            fi
            db_url="${pg_url%/*}/portcullis_api_fuzz"
            psql -q "$pg_url" -c 'DROP DATABASE IF EXISTS portcullis_api_fuzz' -c 'CREATE DATABASE portcullis_api_fuzz'
            fuzz postgres "$db_url"
            psql -q "$pg_url" -c 'DROP DATABASE IF EXISTS portcullis_api_fuzz'
            ;;
        *) echo "api-fuzz: unknown backend $backend"; exit 1 ;;
    esac
done
echo "api-fuzz: passed on: $backends"
