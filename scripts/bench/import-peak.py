#!/usr/bin/env python3
"""A fresh `portcullis serve` given one import request: its peak resident memory against the body.

    python3 scripts/bench/import-peak.py target/release/portcullis [--users 100000]

Starts the binary on a new SQLite file, creates an application and a group, sends one request of
`--users` users (the shape of the CLI test `an_import_of_200000_users_peaks_under_three_times_its_body`:
a registration, a membership, `data`, a bcrypt hash each), and prints the body's size, the
server's peak resident memory (`VmHWM`, start-up included) and their ratio, and the time the
request took. With `--warm N` a first request of N other users runs before, and the figures are
then the second request's: the growth of the server's peak above what it held before it (its peak
reset through `/proc/<pid>/clear_refs`), as on a node that has already written and so holds
its fixed part (SQLite's page cache, the runtime's threads). Only the standard library.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request


def post(url, key, path, body, timeout=900):
    req = urllib.request.Request(
        url + path,
        data=body,
        headers={"Authorization": key, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=timeout) as res:
        return res.status, res.read()


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise SystemExit(f"no {field} in /proc/{pid}/status")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--warm", type=int, default=0)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="import-peak-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}
    server = subprocess.Popen(
        [args.binary, "serve", "--dev", "--bind", "127.0.0.1:0",
         "--database", f"sqlite://{tmp}/portcullis.db"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=env, text=True,
    )
    key = url = None
    for line in server.stdout:
        if line.startswith("Development API key (all permissions): "):
            key = line.split(": ", 1)[1].strip()
        elif line.startswith("Portcullis listening on "):
            url = line.split(" on ", 1)[1].strip().rstrip("/")
            break
    # Keep draining its output so that a full pipe never stalls it.
    threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()
    try:
        _, app = post(url, key, "/api/application", json.dumps(
            {"application": {"name": "Shop", "roles": [{"name": "member"}]}}).encode())
        app = json.loads(app)["application"]["id"]
        _, group = post(url, key, "/api/group", json.dumps({"group": {"name": "Customers"}}).encode())
        group = json.loads(group)["group"]["id"]
        def body_of(first, count):
            users = [{
                "email": f"user{i}@legacy.example.com", "username": f"user{i}",
                "firstName": "Legacy", "lastName": f"User {i}", "verified": True,
                "encryptionScheme": "bcrypt",
                "password": "$2y$10$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e",
                "data": {"original_user_id": i, "plan": "gold", "signup_source": "web"},
                "registrations": [{"applicationId": app, "roles": ["member"]}],
                "memberships": [{"groupId": group}],
            } for i in range(first, first + count)]
            return json.dumps({"users": users}, separators=(",", ":")).encode()

        mib = 1024 * 1024
        base = 0
        if args.warm:
            status, answer = post(url, key, "/api/user/import", body_of(args.users, args.warm))
            if status != 200:
                raise SystemExit(f"the warm-up import answered {status}: {answer[:500]!r}")
            time.sleep(1)
            with open(f"/proc/{server.pid}/clear_refs", "w") as f:
                f.write("5")
            base = status_kib(server.pid, "VmRSS") * 1024
        body = body_of(0, args.users)
        start = time.monotonic()
        status, answer = post(url, key, "/api/user/import", body)
        took = time.monotonic() - start
        if status != 200:
            raise SystemExit(f"import answered {status}: {answer[:500]!r}")
        peak = status_kib(server.pid, "VmHWM") * 1024
        if args.warm:
            grew = peak - base
            print(f"{args.users} users after {args.warm}: body {len(body) / mib:.0f} MiB, server "
                  f"held {base / mib:.0f} MiB before it, peak {peak / mib:.0f} MiB: grew "
                  f"{grew / mib:.0f} MiB ({grew / len(body):.2f}x), {args.users / took:.0f} users/s "
                  f"({took:.1f} s)")
        else:
            print(f"{args.users} users: body {len(body) / mib:.0f} MiB, server peak {peak / mib:.0f} "
                  f"MiB ({peak / len(body):.2f}x), {args.users / took:.0f} users/s ({took:.1f} s)")
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    sys.exit(main())
