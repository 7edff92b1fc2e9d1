#!/usr/bin/env python3
"""The ceiling of a SQLite bulk load of Portcullis's users on this machine, without Portcullis.

`portcullis-bench import` compares our import with a bare multi-row INSERT through sqlx. This
script asks how fast SQLite itself can take the same rows at all: one prepared INSERT per table
run by Python's C-level `executemany` in one transaction, on the real schema
(`crates/store/migrations/sqlite/0001_identity.sql`), with the pragmas the store sets. Then the
same load with time-ordered ids, without foreign keys, without the two secondary indexes, and —
the floor of any row-per-user design — one users row per user and nothing else.

    python3 scripts/bench/sqlite-ceiling.py [USERS]      # default 100000
"""
import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SCHEMA = open(os.path.join(ROOT, "crates/store/migrations/sqlite/0001_identity.sql")).read()
PRAGMAS = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-32768;"


def connect(path):
    c = sqlite3.connect(path, isolation_level=None)
    c.executescript(PRAGMAS)
    return c


def load(path, n, ordered=False, fk=True, drop=()):
    c = connect(path)
    c.execute(f"PRAGMA foreign_keys={'ON' if fk else 'OFF'}")
    c.executescript(SCHEMA)
    for ix in drop:
        c.execute(f"DROP INDEX {ix}")
    t, a1, a2, g = (str(uuid.uuid4()) for _ in range(4))
    c.execute("INSERT INTO tenants VALUES (?,?,?,?)", (t, "t", "{}", 1))
    for a in (a1, a2):
        c.execute("INSERT INTO applications VALUES (?,?,?,?)", (a, t, "{}", 1))
    c.execute("INSERT INTO user_groups VALUES (?,?,?,?,?)", (g, t, "g", "{}", 1))
    stamp = int(time.time())

    def new_id(k):
        return "%08x-0000-7000-8000-%012x" % (stamp, k) if ordered else str(uuid.uuid4())

    users, regs, members = [], [], []
    for i in range(n):
        u = new_id(i)
        email = f"user{i}@legacy.example.com"
        body = json.dumps({
            "id": u, "tenantId": t, "email": email, "username": f"user{i}",
            "firstName": "Legacy", "lastName": f"User {i}", "birthDate": "1980-01-01",
            "verified": True, "active": True, "insertInstant": 1331449200000 + i,
            "data": {"original_user_id": i, "plan": "gold", "signup_source": "web"},
        })
        users.append((u, t, email, f"user{i}", body, "bcrypt", 10, "",
                      "$2y$10$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e",
                      1331449200000 + i))
        for k, a in enumerate((a1, a2)):
            r = new_id(n + 2 * i + k)
            regs.append((r, t, u, a, json.dumps({"id": r, "applicationId": a, "roles": ["member"]})))
        m = new_id(3 * n + i)
        members.append((m, t, g, u, json.dumps({"id": m, "groupId": g, "userId": u})))
    start = time.perf_counter()
    c.execute("BEGIN")
    c.executemany("INSERT INTO users (id, tenant_id, email_lower, username_lower, body, pw_scheme, "
                  "pw_factor, pw_salt, pw_hash, insert_instant) VALUES (?,?,?,?,?,?,?,?,?,?)", users)
    c.executemany("INSERT INTO registrations (id, tenant_id, user_id, application_id, body) "
                  "VALUES (?,?,?,?,?)", regs)
    c.executemany("INSERT INTO group_members (id, tenant_id, group_id, user_id, body) "
                  "VALUES (?,?,?,?,?)", members)
    c.execute("COMMIT")
    return n / (time.perf_counter() - start)


def one_row_each(path, n):
    c = connect(path)
    c.executescript("CREATE TABLE users (id TEXT PRIMARY KEY, tenant_id TEXT, email_lower TEXT, "
                    "username_lower TEXT, body TEXT); "
                    "CREATE UNIQUE INDEX users_email ON users (tenant_id, email_lower); "
                    "CREATE UNIQUE INDEX users_username ON users (tenant_id, username_lower);")
    rows = [("%08x-0000-7000-8000-%012x" % (1, i), "t", f"user{i}@legacy.example.com",
             f"user{i}", "x" * 700) for i in range(n)]
    start = time.perf_counter()
    c.execute("BEGIN")
    c.executemany("INSERT INTO users VALUES (?,?,?,?,?)", rows)
    c.execute("COMMIT")
    return n / (time.perf_counter() - start)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(f"SQLite {sqlite3.sqlite_version}, {n} users, 2 registrations and 1 membership each")
    runs = [
        ("the schema as it is, random UUIDv4 ids", dict()),
        ("time-ordered ids", dict(ordered=True)),
        ("time-ordered ids, foreign keys off", dict(ordered=True, fk=False)),
        ("time-ordered ids, no secondary indexes", dict(
            ordered=True, drop=("registrations_application_ix", "group_members_user_ix"))),
    ]
    for label, kw in runs:
        with tempfile.TemporaryDirectory() as d:
            print(f"{label:<48} {load(os.path.join(d, 'c.db'), n, **kw):>10,.0f} users/s")
    with tempfile.TemporaryDirectory() as d:
        rate = one_row_each(os.path.join(d, "c.db"), n)
        print(f"{'one users row each (3 indexes), nothing else':<48} {rate:>10,.0f} users/s")


if __name__ == "__main__":
    main()
