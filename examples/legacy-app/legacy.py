#!/usr/bin/env python3
"""A small legacy application for trying Portcullis' slow migration end to end.

It keeps its own `users` table (SQLite) with bcrypt password hashes, the way many PHP and Python
apps do, and exposes both endpoint styles Portcullis' connectors speak:

  FusionAuth Generic connector:   POST /fusionauth/login  {"loginId", "password", "applicationId", ...}
                                  -> 200 {"user": {...}} | 404; the user's roles come as a
                                     registration for the applicationId sent
  Keycloak REST-migration style:  GET  /keycloak/users/{usernameOrEmail} -> 200 user | 404
                                  POST /keycloak/users/{username} {"password"} -> 200 | 401

Run:  pip install -r requirements.txt
      python3 legacy.py --db legacy.sqlite --seed --port 8081 [--token SECRET]
      (--port 0 takes any free port; the first line printed names it)

With --token, every request must carry `Authorization: Bearer SECRET` (the connectors'
`bearerToken`, or for Generic a custom header). Standard library plus `bcrypt` only.
"""

import argparse
import json
import sqlite3
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import bcrypt

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
  id INTEGER PRIMARY KEY,
  username TEXT UNIQUE NOT NULL,
  email TEXT UNIQUE NOT NULL,
  password_hash TEXT NOT NULL,
  first_name TEXT,
  last_name TEXT,
  roles TEXT NOT NULL DEFAULT '',
  groups TEXT NOT NULL DEFAULT '',
  must_change_password INTEGER NOT NULL DEFAULT 0
);
"""

SEED = [
    ("alice", "alice@legacy.example", "alice-password", "Alice", "Archer", "admin,user", "staff", 0),
    ("bob", "bob@legacy.example", "bob-password", "Bob", "Baker", "user", "", 0),
    ("carol", "carol@legacy.example", "carol-password", "Carol", "Cook", "user", "staff", 1),
]


class Legacy:
    def __init__(self, path, token):
        self.path = path
        self.token = token
        self.lock = threading.Lock()
        with self.db() as db:
            db.executescript(SCHEMA)

    def db(self):
        return sqlite3.connect(self.path)

    def seed(self):
        with self.db() as db:
            for u, e, pw, fn, ln, roles, groups, must in SEED:
                h = bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=10)).decode()
                db.execute(
                    "INSERT OR IGNORE INTO users (username, email, password_hash, first_name,"
                    " last_name, roles, groups, must_change_password) VALUES (?,?,?,?,?,?,?,?)",
                    (u, e, h, fn, ln, roles, groups, must),
                )

    def find(self, login_id):
        with self.db() as db:
            db.row_factory = sqlite3.Row
            return db.execute(
                "SELECT * FROM users WHERE lower(username) = lower(?) OR lower(email) = lower(?)",
                (login_id, login_id),
            ).fetchone()

    @staticmethod
    def check(row, password):
        return row is not None and bcrypt.checkpw(password.encode(), row["password_hash"].encode())


def split(s):
    return [x for x in (s or "").split(",") if x]


class Handler(BaseHTTPRequestHandler):
    legacy: Legacy = None

    def log_message(self, fmt, *args):  # never log bodies: they hold passwords
        pass

    def answer(self, status, body=None):
        data = json.dumps(body if body is not None else {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        if not self.legacy.token:
            return True
        if self.headers.get("Authorization") == f"Bearer {self.legacy.token}":
            return True
        self.answer(401, {"error": "unauthorized"})
        return False

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def do_GET(self):
        if not self.authorized():
            return
        prefix = "/keycloak/users/"
        if not self.path.startswith(prefix):
            return self.answer(404)
        login_id = urllib.parse.unquote(self.path[len(prefix):])
        row = self.legacy.find(login_id)
        if row is None:
            return self.answer(404)
        self.answer(200, {
            "id": str(row["id"]),
            "username": row["username"],
            "email": row["email"],
            "firstName": row["first_name"],
            "lastName": row["last_name"],
            "enabled": True,
            "emailVerified": True,
            "attributes": {"legacyApp": ["example"]},
            "roles": split(row["roles"]),
            "groups": split(row["groups"]),
            "requiredActions": ["UPDATE_PASSWORD"] if row["must_change_password"] else [],
        })

    def do_POST(self):
        if not self.authorized():
            return
        if self.path == "/fusionauth/login":
            b = self.body()
            row = self.legacy.find(b.get("loginId", ""))
            if not self.legacy.check(row, b.get("password", "")):
                return self.answer(404)
            user = {
                "email": row["email"],
                "username": row["username"],
                "firstName": row["first_name"],
                "lastName": row["last_name"],
                "data": {"legacyId": row["id"]},
                "passwordChangeRequired": bool(row["must_change_password"]),
            }
            # FusionAuth's user JSON carries roles in registrations: one for the application the
            # login is for, so the roles land on it (a login for no application gets none).
            if b.get("applicationId"):
                user["registrations"] = [
                    {"applicationId": b["applicationId"], "roles": split(row["roles"])}
                ]
            return self.answer(200, {"user": user})
        prefix = "/keycloak/users/"
        if self.path.startswith(prefix):
            row = self.legacy.find(urllib.parse.unquote(self.path[len(prefix):]))
            ok = self.legacy.check(row, self.body().get("password", ""))
            return self.answer(200 if ok else 401)
        self.answer(404)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", default="legacy.sqlite")
    p.add_argument("--port", type=int, default=8081)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--token", default=None)
    p.add_argument("--seed", action="store_true", help="add the demo users (alice, bob, carol)")
    a = p.parse_args()
    Handler.legacy = Legacy(a.db, a.token)
    if a.seed:
        Handler.legacy.seed()
    server = ThreadingHTTPServer((a.host, a.port), Handler)
    # The bound port, so `--port 0` (any free port) tells which one it got.
    print(f"legacy app on http://{a.host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
