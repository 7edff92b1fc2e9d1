// The product inventory that trusts no network: every request must carry the gateway's signed
// assertion (`x-portcullis-assertion`, a JWT), verified here with Node's own crypto against the
// gateway's public key (`/.well-known/gateway/jwks.json`): the signature (EdDSA or ES256, the key's
// own algorithm only), `iss`, `aud` equal to this service's URL as the gateway's route names it
// (so an assertion meant for another service does not pass), `exp`, and then the `roles` claim.
// A request that went around the gateway, or whose `roles` header was forged, carries no
// assertion that passes.
//   GET /branches/{id}/products
//
// Environment: PORT (3003), GATEWAY_URL (http://127.0.0.1:3000), SELF_URL (the route's upstream,
// http://127.0.0.1:$PORT), ASSERTION_ISSUER (portcullis-gateway).
import { createPublicKey, verify } from 'node:crypto';
import { branchProducts, json, serve } from './data.mjs';

const port = Number(process.env.PORT ?? 3003);
const GATEWAY_URL = (process.env.GATEWAY_URL ?? 'http://127.0.0.1:3000').replace(/\/$/, '');
const SELF_URL = (process.env.SELF_URL ?? `http://127.0.0.1:${port}`).replace(/\/$/, '');
const ISSUER = process.env.ASSERTION_ISSUER ?? 'portcullis-gateway';
const LEEWAY_SECONDS = 5;

// The gateway's keys by kid; fetched again for an unknown kid, at most every 5 s.
let keys = new Map();
let fetchedAt = 0;
async function keyFor(kid) {
    if (!keys.has(kid) && Date.now() - fetchedAt > 5000) {
        fetchedAt = Date.now();
        const res = await fetch(`${GATEWAY_URL}/.well-known/gateway/jwks.json`);
        if (res.ok) {
            const next = new Map();
            for (const jwk of (await res.json()).keys ?? []) {
                next.set(jwk.kid, { alg: jwk.alg, key: createPublicKey({ key: jwk, format: 'jwk' }) });
            }
            keys = next;
        }
    }
    return keys.get(kid);
}

const b64json = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

/** The assertion's claims when it passes every check, else null. */
async function verifyAssertion(token) {
    const parts = typeof token === 'string' ? token.split('.') : [];
    if (parts.length !== 3) return null;
    let header, claims;
    try {
        header = b64json(parts[0]);
        claims = b64json(parts[1]);
    } catch {
        return null;
    }
    const found = await keyFor(header.kid);
    // The header's alg must be the key's own: never `none`, never another family.
    if (!found || header.alg !== found.alg) return null;
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    const sig = Buffer.from(parts[2], 'base64url');
    const ok = header.alg === 'EdDSA'
        ? verify(null, signed, found.key, sig)
        : header.alg === 'ES256'
            ? verify('sha256', signed, { key: found.key, dsaEncoding: 'ieee-p1363' }, sig)
            : false;
    if (!ok) return null;
    const now = Math.floor(Date.now() / 1000);
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (claims.iss !== ISSUER || !aud.includes(SELF_URL)) return null;
    if (typeof claims.exp !== 'number' || claims.exp + LEEWAY_SECONDS < now) return null;
    return claims;
}

serve('inventory-verified', port, async (req, res) => {
    const url = new URL(req.url, 'http://inventory');
    const m = url.pathname.match(/^\/branches\/(\d+)\/products$/);
    if (!m || req.method !== 'GET') return json(res, 404, { error: 'not_found' });
    const claims = await verifyAssertion(req.headers['x-portcullis-assertion']);
    if (!claims) return json(res, 401, { error: 'no_valid_assertion' });
    const roles = Array.isArray(claims.roles) ? claims.roles : [];
    if (!roles.includes('admin')) return json(res, 403, { error: 'admin_only' });
    const list = branchProducts(m[1]);
    if (!list) return json(res, 404, { error: 'no_such_branch' });
    return json(res, 200, { branch: Number(m[1]), products: list, user: claims.email ?? claims.sub, verified: true });
});
