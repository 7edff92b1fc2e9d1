#!/usr/bin/env python3
"""Verifies a Portcullis access token independently, with PyJWT, against the server's JWKS.

    verify.py JWKS_URL TOKEN [AUDIENCE]

Prints the verified claims as JSON; exits 1 (with the reason on stderr) when the token does not
verify. The API tests run it so that our claims and signatures are checked by another library.
"""
import json
import sys
import urllib.request

try:
    import jwt
except ImportError:
    sys.stderr.write(
        "PyJWT is missing: pip install -r tests/jwt/requirements.txt (scripts/test does it)\n"
    )
    sys.exit(2)


def main():
    url, token = sys.argv[1], sys.argv[2]
    audience = sys.argv[3] if len(sys.argv) > 3 else None
    with urllib.request.urlopen(url) as r:
        jwks = jwt.PyJWKSet.from_dict(json.load(r))
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=[key.algorithm_name],
        audience=audience,
        options={"require": ["exp", "iat", "iss", "sub", "jti"], "verify_aud": audience is not None},
    )
    print(json.dumps(claims))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # the reason goes to the test's failure message
        sys.stderr.write(f"{type(e).__name__}: {e}\n")
        sys.exit(1)
