#!/usr/bin/env python3
"""Runs user searches through the official FusionAuth Python client (`fusionauth-client`), so its
`search_users_by_query` is what talks to the server.

Reads one JSON object on stdin:

    {"url": "http://127.0.0.1:PORT", "api_key": "...", "tenant_id": "..." | null,
     "searches": [{"search": {...}}, ...]}

Prints a JSON list with, for each search, {"status": 200, "success": {...} | null,
"error": {...} | null}: the client's `success_response` and, for a 400, its `error_response`.
"""
import json
import sys

try:
    from fusionauth.fusionauth_client import FusionAuthClient
except ImportError:
    sys.stderr.write(
        "missing package: pip install -r tests/fusionauth-python/requirements.txt "
        "(scripts/test does it)\n"
    )
    sys.exit(2)


def main():
    req = json.load(sys.stdin)
    client = FusionAuthClient(req["api_key"], req["url"])
    if req.get("tenant_id"):
        client.set_tenant_id(req["tenant_id"])
    out = []
    for search in req["searches"]:
        r = client.search_users_by_query(search)
        if r.exception is not None:
            raise r.exception
        error = r.error_response if r.status == 400 else None
        out.append({"status": r.status, "success": r.success_response, "error": error})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
