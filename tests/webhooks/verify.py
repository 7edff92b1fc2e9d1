#!/usr/bin/env python3
"""Verifies a webhook request Portcullis sent, independently: the Standard Webhooks headers with
the `standardwebhooks` package, and `X-FusionAuth-Signature-JWT` with PyJWT (against the
server's JWKS, or an HMAC secret) and its `request_body_sha256` claim against the body.

Reads one JSON object on stdin:

    {"body": "...", "headers": {...}, "secret": "whsec_...",
     "jwks_url": "http://.../.well-known/jwks.json" | null, "hmac_secret_b64": "..." | null}

Prints {"standard": true, "jwt": {claims} | null}; exits 1 with the reason on stderr when a
signature does not verify.
"""
import base64
import hashlib
import json
import sys
import urllib.request

try:
    import jwt
    from standardwebhooks.webhooks import Webhook
except ImportError:
    sys.stderr.write(
        "missing packages: pip install -r tests/webhooks/requirements.txt (scripts/test does it)\n"
    )
    sys.exit(2)


def main():
    req = json.load(sys.stdin)
    body = req["body"]
    headers = {k.lower(): v for k, v in req["headers"].items()}
    Webhook(req["secret"]).verify(body, headers)
    out = {"standard": True, "jwt": None}
    token = headers.get("x-fusionauth-signature-jwt")
    if token is not None:
        if req.get("hmac_secret_b64"):
            key, algs = base64.b64decode(req["hmac_secret_b64"]), ["HS256"]
        else:
            with urllib.request.urlopen(req["jwks_url"]) as r:
                jwks = jwt.PyJWKSet.from_dict(json.load(r))
            kid = jwt.get_unverified_header(token)["kid"]
            k = next(k for k in jwks.keys if k.key_id == kid)
            key, algs = k.key, [k.algorithm_name]
        claims = jwt.decode(token, key, algorithms=algs)
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        if claims.get("request_body_sha256") != digest:
            raise ValueError("request_body_sha256 does not match the body")
        out["jwt"] = claims
    elif req.get("expect_jwt"):
        raise ValueError("no X-FusionAuth-Signature-JWT header")
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the reason goes to the test's failure message
        sys.stderr.write(f"{type(e).__name__}: {e}\n")
        sys.exit(1)
