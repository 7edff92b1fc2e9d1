// The product inventory, trusting the gateway's identity headers: it answers a branch's stock only
// when the `roles` header names `admin`. The gateway strips any `roles` header a client sends, so
// this is safe only on a network where nothing but the gateway reaches the service; the variant
// in inventory-verified.mjs checks the gateway's signed assertion instead.
//   GET /branches/{id}/products
import { branchProducts, json, serve } from './data.mjs';

serve('inventory', 3002, (req, res) => {
    const url = new URL(req.url, 'http://inventory');
    const m = url.pathname.match(/^\/branches\/(\d+)\/products$/);
    if (!m || req.method !== 'GET') return json(res, 404, { error: 'not_found' });
    const roles = (req.headers.roles ?? '').split(',').map((r) => r.trim());
    if (!roles.includes('admin')) return json(res, 403, { error: 'admin_only' });
    const list = branchProducts(m[1]);
    if (!list) return json(res, 404, { error: 'no_such_branch' });
    return json(res, 200, { branch: Number(m[1]), products: list, user: req.headers['x-user-email'] ?? null });
});
