// The shop example as people and programs use it, in headless Chromium and with fetch: the public
// catalog needs no sign-in; a branch's inventory sends the browser to Portcullis' hosted sign-in
// page, then shows the admin the branch's products and refuses the plain shopper (403); the
// inventory that verifies the gateway's signed assertion does the same on its own, and refuses a
// request that went around the gateway, even with a forged `roles` header. The Login API's bearer
// tokens get the same answers as the browser sessions.
//
// Run by `examples/shop/run.sh -- node --test shop.test.mjs`, which sets PORTCULLIS, KEY,
// GATEWAY_URL, CATALOG_URL, INVENTORY_URL and VERIFIED_URL. SCREENSHOT_DIR says where the
// screenshots (1280×800) go. Chromium is Debian's (/usr/bin/chromium, or CHROMIUM): Playwright
// never downloads a browser here.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
    const v = process.env[name];
    assert.ok(v, `${name} is not set: run this through examples/shop/run.sh`);
    return v;
};
const PORTCULLIS = env('PORTCULLIS');
const KEY = env('KEY');
const GATEWAY = env('GATEWAY_URL');
const INVENTORY = env('INVENTORY_URL');
const VERIFIED = env('VERIFIED_URL');
const SHOTS = process.env.SCREENSHOT_DIR ?? join(process.cwd(), 'screenshots');
mkdirSync(SHOTS, { recursive: true });
// The Gateway application of kickstart.json and its users.
const APP_ID = '3c219e58-ed0e-4b18-ad48-f4f92793ae32';
const ADMIN = ['admin@shop.example', 'shop-admin-password'];
const SHOPPER = ['shopper@shop.example', 'shop-shopper-password'];

let browser;
let admin;
let shopper;

before(async () => {
    browser = await chromium.launch({
        executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
            '--disable-component-update', '--no-first-run'],
    });
});

after(async () => {
    await browser?.close();
});

const shoot = (page, name) => page.screenshot({ path: join(SHOTS, `shop-${name}.png`) });

/** A fresh browser context (no cookies) with one page. */
async function freshPage() {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    return page;
}

/** The JSON Chromium shows for a JSON answer. */
const shown = async (page) => JSON.parse(await page.locator('body').innerText());

/** Opens `path` at the gateway, signs in on Portcullis' hosted page, and returns at `path`. */
async function signIn(page, path, [loginId, password], shot) {
    await page.goto(`${GATEWAY}${path}`);
    await page.waitForURL((u) => u.href.startsWith(`${PORTCULLIS}/oauth2/authorize`));
    const authorize = new URL(page.url());
    assert.equal(authorize.searchParams.get('client_id'), APP_ID);
    assert.equal(authorize.searchParams.get('redirect_uri'), `${GATEWAY}/oauth-redirect`);
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    await page.locator('#loginId').waitFor();
    if (shot) await shoot(page, shot);
    await page.fill('#loginId', loginId);
    await page.fill('#password', password);
    await page.click('button[type=submit]');
    await page.waitForURL(`${GATEWAY}${path}`).catch(async (e) => {
        throw new Error(`the browser is at ${page.url()}, not ${GATEWAY}${path}: ${await page.locator('body').innerText()}`, { cause: e });
    });
}

test('the catalog is public: no sign-in', async () => {
    const page = await freshPage();
    const res = await page.goto(`${GATEWAY}/products`);
    assert.equal(res.status(), 200);
    const { products } = await shown(page);
    assert.ok(products.some((p) => p.name === 'Oak dining table'), JSON.stringify(products));
    await shoot(page, 'catalog');
    const one = await page.goto(`${GATEWAY}/products/2`);
    assert.equal(one.status(), 200);
    assert.equal((await shown(page)).product.name, 'Linen armchair');
    await page.context().close();
});

test('a branch inventory sends the browser to sign in, and shows the admin its products', async () => {
    admin = await freshPage();
    await signIn(admin, '/branches/1/products', ADMIN, 'sign-in');
    const body = await shown(admin);
    assert.equal(body.branch, 1);
    assert.deepEqual(body.products.map((p) => p.id), [1, 3, 4]);
    assert.equal(body.user, ADMIN[0]);
    await shoot(admin, 'admin-inventory');
    // The session cookie carries on: a second look is a plain 200.
    assert.equal((await admin.goto(`${GATEWAY}/branches/2/products`)).status(), 200);
});

test('the plain shopper signs in and is refused the inventory', async () => {
    shopper = await freshPage();
    await signIn(shopper, '/branches/1/products', SHOPPER);
    const res = await shopper.goto(`${GATEWAY}/branches/1/products`);
    assert.equal(res.status(), 403);
    await shoot(shopper, 'shopper-forbidden');
    // The catalog stays open to the shopper.
    assert.equal((await shopper.goto(`${GATEWAY}/products`)).status(), 200);
});

test('the assertion-verifying inventory: 200 for the admin, 403 for the shopper', async () => {
    const res = await admin.goto(`${GATEWAY}/verified/branches/1/products`);
    assert.equal(res.status(), 200);
    const body = await shown(admin);
    assert.equal(body.verified, true);
    assert.equal(body.user, ADMIN[0]);
    assert.deepEqual(body.products.map((p) => p.id), [1, 3, 4]);
    await shoot(admin, 'admin-verified-inventory');
    const refused = await shopper.goto(`${GATEWAY}/verified/branches/1/products`);
    assert.equal(refused.status(), 403);
    assert.equal((await shown(shopper)).error, 'admin_only');
});

test('around the gateway: a forged roles header fools the header inventory, not the verifying one', async () => {
    const forged = { roles: 'admin' };
    assert.equal((await fetch(`${INVENTORY}/branches/1/products`, { headers: forged })).status, 200);
    assert.equal((await fetch(`${VERIFIED}/branches/1/products`, { headers: forged })).status, 401);
    const fake = { ...forged, 'x-portcullis-assertion': 'eyJhbGciOiJub25lIn0.eyJyb2xlcyI6WyJhZG1pbiJdfQ.' };
    assert.equal((await fetch(`${VERIFIED}/branches/1/products`, { headers: fake })).status, 401);
    // Through the gateway, a client's own roles header is stripped: no token, no entry.
    assert.equal((await fetch(`${GATEWAY}/branches/1/products`, { headers: forged })).status, 401);
});

test('API clients: Login API tokens as bearer tokens', async () => {
    const token = async ([loginId, password]) => {
        const res = await fetch(`${PORTCULLIS}/api/login`, {
            method: 'POST',
            headers: { authorization: KEY, 'content-type': 'application/json' },
            body: JSON.stringify({ loginId, password, applicationId: APP_ID }),
        });
        assert.equal(res.status, 200);
        return (await res.json()).token;
    };
    const call = async (path, bearer) => (await fetch(`${GATEWAY}${path}`, {
        headers: bearer ? { authorization: `Bearer ${bearer}` } : {},
    })).status;
    const [a, s] = [await token(ADMIN), await token(SHOPPER)];
    assert.equal(await call('/products'), 200);
    assert.equal(await call('/branches/1/products', a), 200);
    assert.equal(await call('/branches/1/products', s), 403);
    assert.equal(await call('/branches/1/products'), 401);
    assert.equal(await call('/verified/branches/1/products', a), 200);
    assert.equal(await call('/verified/branches/1/products', s), 403);
});
