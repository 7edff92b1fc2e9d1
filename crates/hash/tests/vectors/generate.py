#!/usr/bin/env python3
"""Regenerates the known-answer vectors in this directory from independent implementations.

Nothing here imports Portcullis: every hash comes from passlib, Django, the `bcrypt` and
`argon2-cffi` packages, Python's hashlib/hmac (for formulas the MISSION table states), PHP's
password_hash()/crypt() (generate.php) and OpenLDAP's slappasswd.

    pip install passlib bcrypt django argon2-cffi cryptography
    apt-get install -y php-cli slapd        # optional: PHP and slappasswd vectors
    python3 generate.py                      # rewrites *.json here

Each vector: {scheme, factor, salt, password_hash, right, wrong, note}; the Rust tests call
parse_import(scheme, factor, salt, password_hash) and check that `right` verifies and `wrong`
does not. Salts are random, so a rerun changes the files; every run is equally valid.
"""

import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys

from passlib import hash as ph
from passlib.utils.binary import h64

HERE = os.path.dirname(os.path.abspath(__file__))
B64 = lambda b: base64.b64encode(b).decode()


def vec(scheme, password_hash, right, wrong, note, factor=None, salt=None):
    """Passwords given as bytes (not UTF-8) are stored as right_hex / wrong_hex."""
    v = dict(scheme=scheme, factor=factor, salt=salt, password_hash=password_hash, note=note)
    for key, pw in (("right", right), ("wrong", wrong)):
        if isinstance(pw, bytes):
            v[key + "_hex"] = pw.hex()
        else:
            v[key] = pw
    return v


def write(name, vectors):
    with open(os.path.join(HERE, name + ".json"), "w") as f:
        json.dump(vectors, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{name}.json: {len(vectors)} vectors")


# --- FusionAuth split schemes: the MISSION §4 formulas, written with hashlib/hmac ----------

def salted_digest(algo, pw, salt, factor):
    r = hashlib.new(algo, pw.encode() + salt).digest()
    for _ in range(factor - 1):
        r = hashlib.new(algo, r).digest()
    return r


def fusionauth():
    out = []
    for algo, scheme in (("md5", "salted-md5"), ("sha256", "salted-sha256")):
        for factor in (1, 2, 5):
            salt = os.urandom(16)
            pw = f"{scheme} pw {factor}"
            out.append(vec(scheme, B64(salted_digest(algo, pw, salt, factor)), pw, pw + "x",
                           f"hashlib: H(pw||salt) then H(r) {factor - 1} more times", factor, B64(salt)))
    salt = os.urandom(24)
    pw = "hmac pässword"
    out.append(vec("salted-hmac-sha256", B64(hmac.new(salt, pw.encode(), hashlib.sha256).digest()),
                   pw, "hmac password", "hmac.new(salt, pw, sha256)", 1, B64(salt)))
    for scheme, algo, dklen, iters in (
        ("salted-pbkdf2-hmac-sha256", "sha256", 32, 1000),
        ("salted-pbkdf2-hmac-sha256", "sha256", 32, 27500),
        ("salted-pbkdf2-hmac-sha256-512", "sha256", 64, 27500),
        ("salted-pbkdf2-hmac-sha512-512", "sha512", 64, 1000),
    ):
        salt = os.urandom(16)
        pw = f"{scheme} {iters}"
        dk = hashlib.pbkdf2_hmac(algo, pw.encode(), salt, iters, dklen)
        out.append(vec(scheme, B64(dk), pw, pw.upper(), f"hashlib.pbkdf2_hmac {algo} dklen {dklen}",
                       iters, B64(salt)))
    # bcrypt split form: factor = cost, salt = 22 chars, password = 31 chars.
    import bcrypt
    pw = "split bcrypt"
    full = bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=5, prefix=b"2a")).decode()
    out.append(vec("bcrypt", full[29:], pw, "split bcrypT", "python bcrypt $2a$ split",
                   int(full[4:6]), full[7:29]))
    # phpass split: factor = loop count, salt = the 8 salt characters, password = hash chars.
    pw = "wordpress pw"
    full = ph.phpass.using(rounds=13).hash(pw)
    out.append(vec("phpass-md5", full[12:], pw, "wordpress PW", "passlib phpass $P$ split",
                   1 << 13, full[4:12]))
    full = drupal7(pw, "DrUpAlSa", 15)
    out.append(vec("phpass-sha512", full[12:], pw, "wordpress Pw", "Drupal 7 $S$ split",
                   1 << 15, full[4:12]))
    out.append(vec("phpass-sha512", full, pw, "wordpress pW", "Drupal 7 $S$ whole string in password"))
    return out


# --- Drupal 7 $S$ (phpass with SHA-512), from Drupal's password.inc algorithm ---------------

ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def drupal7(pw, salt, log2):
    pw = pw.encode()
    h = hashlib.sha512(salt.encode() + pw).digest()
    for _ in range(1 << log2):
        h = hashlib.sha512(h + pw).digest()
    return "$S$" + ITOA64[log2] + salt + h64.encode_bytes(h).decode()[:43]


def php_vectors():
    if not shutil.which("php"):
        print("php not found: skipping PHP vectors", file=sys.stderr)
        return {}
    out = subprocess.run(["php", os.path.join(HERE, "generate.php")], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def bcrypt_vectors(php):
    import bcrypt
    out = []
    for prefix in (b"2a", b"2b"):
        for cost in (4, 10):
            pw = f"bcrypt {prefix.decode()} {cost} ✓"
            h = bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=cost, prefix=prefix)).decode()
            out.append(vec("bcrypt", h, pw, pw[:-1], f"python bcrypt ${prefix.decode()}$ cost {cost}"))
    # The OpenBSD / crypt_blowfish reference vectors (published with the original bcrypt).
    out.append(vec("bcrypt", "$2a$06$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s.", "",
                   "U", "published vector: empty password"))
    out.append(vec("bcrypt", "$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
                   "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored",
                   "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012345678",
                   "published crypt_blowfish vector: only the first 72 bytes count"))
    for prefix in ("2y", "2b"):
        out.append(vec("bcrypt", f"${prefix}$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e", b"\xff\xff\xa3",
                       b"\xff\xff\xa4", f"published crypt_blowfish ${prefix}$ vector, non-UTF-8 password"))
    # Published vectors are checked against the independent implementation before use.
    for v in out:
        if "right" in v:  # python bcrypt refuses > 72 bytes; the originals cut there
            assert bcrypt.checkpw(v["right"].encode()[:72], v["password_hash"].encode()), v
    return out + php.get("bcrypt", [])


def argon2_vectors(php):
    from argon2 import PasswordHasher, Type
    out = []
    for t, name in ((Type.ID, "argon2id"), (Type.I, "argon2i"), (Type.D, "argon2d")):
        pw = f"{name} password"
        h = PasswordHasher(time_cost=2, memory_cost=1024, parallelism=2, type=t).hash(pw)
        out.append(vec("argon2", h, pw, pw + " ", f"argon2-cffi {name} m=1024 t=2 p=2"))
    pw = "owasp default"
    h = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID).hash(pw)
    out.append(vec("argon2", h, pw, "owasp defaulT", "argon2-cffi argon2id OWASP m=19456 t=2 p=1"))
    # RFC 9106-style raw PHC from passlib's argon2 (argon2-cffi backend).
    h = ph.argon2.using(type="ID", rounds=3, memory_cost=2048, parallelism=1).hash("passlib argon")
    out.append(vec("argon2", h, "passlib argon", "passlib argoN", "passlib argon2id"))
    return out + php.get("argon2", [])


def scrypt_vectors():
    out = []
    for ln, r, p in ((10, 8, 1), (12, 4, 2)):
        pw = f"scrypt {ln}"
        h = ph.scrypt.using(rounds=ln, block_size=r, parallelism=p).hash(pw)
        out.append(vec("scrypt", h, pw, pw + "!", f"passlib scrypt ln={ln} r={r} p={p}"))
    # PHC form with standard base64, built from hashlib.scrypt.
    salt = os.urandom(16)
    pw = "hashlib scrypt"
    dk = hashlib.scrypt(pw.encode(), salt=salt, n=1 << 11, r=8, p=1, dklen=32)
    nopad = lambda b: base64.b64encode(b).decode().rstrip("=")
    out.append(vec("scrypt", f"$scrypt$ln=11,r=8,p=1${nopad(salt)}${nopad(dk)}", pw, "hashlib scrypT",
                   "hashlib.scrypt, PHC string"))
    return out


def pbkdf2_vectors():
    out = []
    for hasher, name in ((ph.pbkdf2_sha1, "sha1"), (ph.pbkdf2_sha256, "sha256"), (ph.pbkdf2_sha512, "sha512")):
        pw = f"passlib pbkdf2 {name} é"
        h = hasher.using(rounds=2000).hash(pw)
        out.append(vec("pbkdf2", h, pw, pw[:-1], f"passlib pbkdf2_{name}"))
    salt = os.urandom(16)
    pw = "phc pbkdf2"
    dk = hashlib.pbkdf2_hmac("sha256", pw.encode(), salt, 3000, 32)
    nopad = lambda b: base64.b64encode(b).decode().rstrip("=")
    out.append(vec("pbkdf2", f"$pbkdf2-sha256$i=3000,l=32${nopad(salt)}${nopad(dk)}", pw, "phc pbkdf3",
                   "hashlib pbkdf2_hmac, PHC string"))
    return out


def django_vectors():
    from django.conf import settings
    settings.configure(PASSWORD_HASHERS=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
        "django.contrib.auth.hashers.BCryptPasswordHasher",
        "django.contrib.auth.hashers.ScryptPasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ])
    from django.contrib.auth import hashers as dh
    out = []
    pw = "django pässword"
    out.append(vec("django", dh.PBKDF2PasswordHasher().encode(pw, dh.PBKDF2PasswordHasher().salt()),
                   pw, "django password", "django PBKDF2PasswordHasher (default iterations)"))
    out.append(vec("django", dh.PBKDF2SHA1PasswordHasher().encode(pw, "saltsalt", iterations=1000),
                   pw, pw + " ", "django PBKDF2SHA1PasswordHasher"))

    class FastArgon2(dh.Argon2PasswordHasher):
        time_cost, memory_cost, parallelism = 2, 1024, 1

    out.append(vec("django", FastArgon2().encode(pw, FastArgon2().salt()), pw, "x", "django Argon2PasswordHasher"))

    class FastBcryptSha(dh.BCryptSHA256PasswordHasher):
        rounds = 5

    class FastBcrypt(dh.BCryptPasswordHasher):
        rounds = 5

    long_pw = "long " * 30
    out.append(vec("django", FastBcryptSha().encode(long_pw, FastBcryptSha().salt()), long_pw,
                   long_pw[:72], "django BCryptSHA256PasswordHasher: 150-byte password counts in full"))
    out.append(vec("django", FastBcrypt().encode(pw, FastBcrypt().salt()), pw, pw.upper(),
                   "django BCryptPasswordHasher"))

    class FastScrypt(dh.ScryptPasswordHasher):
        work_factor = 1 << 11

    out.append(vec("django", FastScrypt().encode(pw, FastScrypt().salt()), pw, pw + "1", "django ScryptPasswordHasher N=2^11"))
    out.append(vec("django", dh.MD5PasswordHasher().encode(pw, "md5salt"), pw, "wrong", "django MD5PasswordHasher"))
    out.append(vec("django", ph.django_salted_sha1.hash(pw), pw, "wrong", "passlib django_salted_sha1"))
    return out


def crypt_vectors(php):
    out = []
    for hasher, note, kw in (
        (ph.md5_crypt, "passlib md5_crypt", {}),
        (ph.apr_md5_crypt, "passlib apr_md5_crypt", {}),
        (ph.sha256_crypt, "passlib sha256_crypt rounds=5000 (implicit)", {"rounds": 5000}),
        (ph.sha256_crypt, "passlib sha256_crypt rounds=12345", {"rounds": 12345}),
        (ph.sha512_crypt, "passlib sha512_crypt rounds=5000 (implicit)", {"rounds": 5000}),
        (ph.sha512_crypt, "passlib sha512_crypt rounds=1000", {"rounds": 1000}),
    ):
        pw = f"crypt pw {note[-6:]} ü"
        out.append(vec("crypt", hasher.using(**kw).hash(pw), pw, pw + "x", note))
    # Published vectors from Ulrich Drepper's SHA-crypt specification.
    out.append(vec("crypt", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
                   "Hello world!", "Hello world", "SHA-crypt spec vector 2 (sha512, rounds=10000, salt cut at 16)"))
    assert ph.sha512_crypt.verify("Hello world!", out[-1]["password_hash"])
    return out + php.get("crypt", [])


def phpass_vectors():
    out = []
    for ident, rounds in (("P", 8), ("H", 11), ("P", 13)):
        pw = f"phpass {ident}{rounds}"
        out.append(vec("phpass", ph.phpass.using(ident=ident, rounds=rounds).hash(pw), pw, pw + ".",
                       f"passlib phpass ${ident}$ 2^{rounds}"))
    out.append(vec("phpass", drupal7("drupal pw", "abcdEFGH", 15), "drupal pw", "drupal Pw", "Drupal 7 $S$ 2^15"))
    # The published phpass test vector (test.php in phpass 0.3).
    out.append(vec("phpass", "$P$9IQRaTwmfeRo7ud9Fh4E2PdI0S3r.L0", "test12345", "test12346",
                   "phpass 0.3 test.php vector"))
    assert ph.phpass.verify("test12345", out[-1]["password_hash"])
    return out


def ldap_vectors():
    out = []
    pw = "ldap secret"
    for hasher, note in (
        (ph.ldap_salted_sha1, "{SSHA}"), (ph.ldap_salted_sha256, "{SSHA256}"),
        (ph.ldap_salted_sha512, "{SSHA512}"), (ph.ldap_salted_md5, "{SMD5}"),
        (ph.ldap_sha1, "{SHA}"), (ph.ldap_md5, "{MD5}"),
        (ph.ldap_md5_crypt, "{CRYPT}$1$"), (ph.ldap_sha512_crypt, "{CRYPT}$6$"),
    ):
        out.append(vec("ldap", hasher.hash(pw), pw, "ldap Secret", f"passlib {note}"))
    import bcrypt
    h = "{CRYPT}" + bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=5)).decode()
    out.append(vec("ldap", h, pw, "ldap Secret", "python bcrypt under {CRYPT}"))
    # Unsalted SHA-256/512 as OpenLDAP's contrib module writes them.
    out.append(vec("ldap", "{SHA256}" + B64(hashlib.sha256(pw.encode()).digest()), pw, "x", "hashlib {SHA256}"))
    out.append(vec("ldap", "{sha512}" + B64(hashlib.sha512(pw.encode()).digest()), pw, "x", "hashlib {SHA512}, lower-case tag"))
    if shutil.which("slappasswd"):
        for scheme in ("{SSHA}", "{SMD5}", "{SHA}", "{MD5}"):
            h = subprocess.run(["slappasswd", "-h", scheme, "-s", pw], check=True, capture_output=True,
                               text=True).stdout.strip()
            out.append(vec("ldap", h, pw, "ldap secreT", f"slappasswd -h {scheme}"))
        h = subprocess.run(["slappasswd", "-h", "{CRYPT}", "-c", "$6$%.16s", "-s", pw], check=True,
                           capture_output=True, text=True).stdout.strip()
        out.append(vec("ldap", h, pw, "ldap secreT", "slappasswd -h {CRYPT} -c $6$%.16s"))
    else:
        print("slappasswd not found: skipping its vectors", file=sys.stderr)
    return out


def aspnet_vectors():
    """Blobs built per ASP.NET Identity's documented PasswordHasher layout."""
    import struct
    out = []
    pw = "Asp.Net P@ss"
    salt = os.urandom(16)
    v2 = b"\x00" + salt + hashlib.pbkdf2_hmac("sha1", pw.encode(), salt, 1000, 32)
    out.append(vec("aspnet-identity", B64(v2), pw, "Asp.Net P@sS", "V2: PBKDF2-SHA1 1000, 16-byte salt, 32-byte subkey"))
    for prf, algo, iters in ((1, "sha256", 10000), (2, "sha512", 100000), (0, "sha1", 5000)):
        salt = os.urandom(16)
        sub = hashlib.pbkdf2_hmac(algo, pw.encode(), salt, iters, 32)
        blob = b"\x01" + struct.pack(">III", prf, iters, len(salt)) + salt + sub
        out.append(vec("aspnet-identity", B64(blob), pw, "asp.net p@ss", f"V3: PBKDF2-{algo} {iters}"))
    return out


def firebase_vectors():
    """The published example of firebase/scrypt's README, plus vectors from an independent
    Python version of Firebase's algorithm (hashlib.scrypt + AES-256-CTR)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    enc = lambda m, r, ss, sk, salt, h: f"$firebase-scrypt$m={m},r={r},ss={ss},sk={sk}${salt}${h}"
    sk = "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA=="
    out = [vec("firebase-scrypt", enc(14, 8, "Bw==", sk, "42xEC+ixf3L2lw==",
                                      "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ=="),
               "user1password", "user2password", "firebase/scrypt README example")]

    def firebase(pw, salt, ss, signer, rounds, mem):
        key = hashlib.scrypt(pw.encode(), salt=salt + ss, n=1 << mem, r=rounds, p=1, dklen=32, maxmem=1 << 30)
        e = Cipher(algorithms.AES(key), modes.CTR(b"\0" * 16)).encryptor()
        return e.update(signer) + e.finalize()

    signer, ss = os.urandom(64), os.urandom(2)
    for rounds, mem in ((8, 10), (4, 12)):
        salt = os.urandom(12)
        pw = f"firebase {rounds}/{mem}"
        h = firebase(pw, salt, ss, signer, rounds, mem)
        out.append(vec("firebase-scrypt", enc(mem, rounds, B64(ss), B64(signer), B64(salt), B64(h)), pw,
                       pw + " ", "python hashlib.scrypt + AES-256-CTR"))
    return out


def main():
    php = php_vectors()
    write("fusionauth", fusionauth())
    write("bcrypt", bcrypt_vectors(php))
    write("argon2", argon2_vectors(php))
    write("scrypt", scrypt_vectors())
    write("pbkdf2", pbkdf2_vectors())
    write("django", django_vectors())
    write("crypt", crypt_vectors(php))
    write("phpass", phpass_vectors())
    write("ldap", ldap_vectors())
    write("aspnet", aspnet_vectors())
    write("firebase", firebase_vectors())


if __name__ == "__main__":
    main()
