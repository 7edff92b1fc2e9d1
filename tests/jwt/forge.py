#!/usr/bin/env python3
"""Forges the tokens an attacker tries against a JWT verifier, from one genuine token.

    forge.py TOKEN PUBLIC_KEY_PEM OTHER_KID JKU_URL

Prints one JSON object: attack name → forged compact JWS. Each keeps the genuine token's claims
but raises privileges (`roles: ["superuser"]`) and is made without our private key, so a verifier
must refuse every one. Tokens are built by hand where PyJWT itself refuses to make them (`none`,
HMAC keyed with a public key); signatures by an attacker's own key come from PyJWT and
`cryptography`, a library independent of ours.
"""
import base64
import hashlib
import hmac
import json
import sys

try:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec
except ImportError:
    sys.stderr.write(
        "PyJWT is missing: pip install -r tests/jwt/requirements.txt (scripts/test does it)\n"
    )
    sys.exit(2)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(seg: str) -> bytes:
    return base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))


def seg(obj) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def main():
    token, pem, other_kid, jku = sys.argv[1:5]
    head_s, claims_s, sig_s = token.split(".")
    header = json.loads(unb64(head_s))
    claims = json.loads(unb64(claims_s))
    claims["roles"] = ["superuser"]
    kid = header["kid"]
    out = {}

    # The genuine header and signature over raised claims.
    out["tampered claims"] = f"{head_s}.{seg(claims)}.{sig_s}"

    # alg none in the spellings libraries have accepted, with and without a signature.
    for alg in ["none", "None", "NONE", "nOnE"]:
        h = seg({"alg": alg, "typ": "JWT", "kid": kid})
        out[f"alg {alg}, empty signature"] = f"{h}.{seg(claims)}."
        out[f"alg {alg}, genuine signature"] = f"{h}.{seg(claims)}.{sig_s}"
    h = seg({"typ": "JWT", "kid": kid})
    out["no alg"] = f"{h}.{seg(claims)}."

    # HS256 keyed with what is public: the PEM served at /api/jwt/public-key (the classic RS/ES
    # to HS confusion), with and without its trailing newline.
    for name, secret in [("pem", pem.encode()), ("pem stripped", pem.strip().encode())]:
        h = seg({"alg": "HS256", "typ": "JWT", "kid": kid})
        body = f"{h}.{seg(claims)}"
        mac = hmac.new(secret, body.encode(), hashlib.sha256).digest()
        out[f"HS256 keyed with the public key ({name})"] = f"{body}.{b64(mac)}"

    # An attacker's own ES256 key, offered in the header (jwk), by URL (jku), or signing under
    # our kid or another tenant's kid.
    attacker = ec.generate_private_key(ec.SECP256R1())
    public_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(attacker.public_key()))
    public_jwk["kid"] = "attacker"
    out["embedded jwk under our kid"] = jwt.encode(
        claims, attacker, algorithm="ES256", headers={"kid": kid, "jwk": public_jwk}
    )
    out["embedded jwk, own kid"] = jwt.encode(
        claims, attacker, algorithm="ES256", headers={"kid": "attacker", "jwk": public_jwk}
    )
    out["jku to the attacker's JWKS"] = jwt.encode(
        claims, attacker, algorithm="ES256", headers={"kid": "attacker", "jku": jku}
    )
    out["attacker's key under our kid"] = jwt.encode(
        claims, attacker, algorithm="ES256", headers={"kid": kid}
    )
    out["attacker's key under another tenant's kid"] = jwt.encode(
        claims, attacker, algorithm="ES256", headers={"kid": other_kid}
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
