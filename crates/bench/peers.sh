#!/usr/bin/env bash
# Fetches the peers the benchmarks compare Portcullis with, on demand, into a cache folder
# outside the repository (~/.cache/portcullis-bench, or $PORTCULLIS_BENCH_CACHE), and prints
# where each one is:
#
#   crates/bench/peers.sh keycloak    # Keycloak's server distribution from Maven Central
#
# Then: portcullis-bench oauth --keycloak "$(crates/bench/peers.sh keycloak)"
set -euo pipefail
cache="${PORTCULLIS_BENCH_CACHE:-$HOME/.cache/portcullis-bench}"
mkdir -p "$cache"
case "${1:-}" in
    keycloak)
        version="${KEYCLOAK_VERSION:-26.7.3}"
        dir="$cache/keycloak-$version"
        if [ ! -x "$dir/bin/kc.sh" ]; then
            url="https://repo1.maven.org/maven2/org/keycloak/keycloak-quarkus-dist/$version/keycloak-quarkus-dist-$version.tar.gz"
            echo "peers.sh: fetching $url" >&2
            curl -fsSL "$url" -o "$cache/keycloak-$version.tar.gz"
            tar -xzf "$cache/keycloak-$version.tar.gz" -C "$cache"
            rm "$cache/keycloak-$version.tar.gz"
        fi
        command -v java >/dev/null || { echo "peers.sh: Keycloak needs Java 17 or newer (java on PATH)" >&2; exit 1; }
        echo "$dir"
        ;;
    *)
        echo "usage: $0 keycloak" >&2
        exit 2
        ;;
esac
