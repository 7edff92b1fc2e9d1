#!/usr/bin/env bash
# Fuzzes portcullis-hash's import parser for a bounded time (MISSION §14).
#
#   .ci/hash-fuzz.sh            # 30 s
#   HASH_FUZZ_SECONDS=300 .ci/hash-fuzz.sh
#
# cargo-fuzz needs nightly-only compiler flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain
# accept them. The seed corpus is the known-answer vectors' encoded hashes.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
fuzz_dir="$root/crates/hash/fuzz"
seconds="${HASH_FUZZ_SECONDS:-30}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

corpus="$fuzz_dir/corpus/parse_import"
mkdir -p "$corpus"
# One seed per vector: scheme byte 0 ("auto"), no factor, then the encoded hash.
i=0
for file in "$root"/crates/hash/tests/vectors/*.json; do
    grep -o '"password_hash": "[^"]*"' "$file" | sed 's/^"password_hash": "//; s/"$//' |
        while IFS= read -r hash; do
            printf '\0\0\0\0\0\0%s' "$hash" > "$corpus/seed-$(basename "$file" .json)-$((i++))"
        done
done

cd "$fuzz_dir"
export RUSTC_BOOTSTRAP=1
# -rss_limit_mb: argon2/scrypt within the limits may allocate up to 1 GiB.
cargo fuzz run parse_import "$corpus" -- -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=20
echo "hash fuzz: parse_import ran ${seconds}s without a crash"
