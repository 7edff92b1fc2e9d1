// The shop's data and the small HTTP helpers its services share: a product list, which branch
// stocks what, and JSON answers. Kept in memory so each service starts at once.
import { createServer } from 'node:http';

export const products = [
    { id: 1, name: 'Oak dining table', price: 649.0 },
    { id: 2, name: 'Linen armchair', price: 289.0 },
    { id: 3, name: 'Brass floor lamp', price: 129.5 },
    { id: 4, name: 'Wool rug, 2 x 3 m', price: 219.0 },
];

// Stock per branch: product id -> units on hand.
export const stock = {
    1: { 1: 4, 3: 12, 4: 2 },
    2: { 2: 7, 3: 1 },
};

/** The branch's products with their stock, or null for a branch that does not exist. */
export function branchProducts(branch) {
    const units = stock[branch];
    if (!units) return null;
    return products
        .filter((p) => units[p.id] !== undefined)
        .map((p) => ({ ...p, stock: units[p.id] }));
}

export function json(res, status, body) {
    const text = JSON.stringify(body, null, 2);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
}

/** Starts `handler` on 127.0.0.1:PORT (the environment's, else `defaultPort`). */
export function serve(name, defaultPort, handler) {
    const port = Number(process.env.PORT ?? defaultPort);
    const server = createServer((req, res) => {
        Promise.resolve(handler(req, res)).catch((e) => {
            console.error(`${name}: ${e.stack ?? e}`);
            if (!res.headersSent) json(res, 500, { error: 'internal' });
        });
    });
    server.listen(port, '127.0.0.1', () => console.log(`${name} listening on http://127.0.0.1:${port}`));
    for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
    return server;
}
