// The product catalog: public, so it reads no identity at all.
//   GET /products       the product list
//   GET /products/{id}  one product, or 404
import { products, json, serve } from './data.mjs';

serve('catalog', 3001, (req, res) => {
    const url = new URL(req.url, 'http://catalog');
    if (req.method !== 'GET') return json(res, 405, { error: 'method_not_allowed' });
    if (url.pathname === '/products') return json(res, 200, { products });
    const m = url.pathname.match(/^\/products\/(\d+)$/);
    const product = m && products.find((p) => p.id === Number(m[1]));
    if (product) return json(res, 200, { product });
    return json(res, 404, { error: 'not_found' });
});
