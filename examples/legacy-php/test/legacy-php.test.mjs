// The legacy PHP example as a person uses it, in headless Chromium: the PHP page sends the browser
// to Portcullis' login page (mod_auth_openidc), a wrong password changes nothing, a user who
// exists only in the legacy app's table signs in and lands back on the PHP page, which shows the
// name and roles from the OpenID Connect claims; Portcullis now has the user. Signing out goes
// through Portcullis' logout and back to the app, whose page then asks for a sign-in again.
//
// Run by `examples/legacy-php/run.sh -- node --test legacy-php.test.mjs`, which sets APP_URL,
// PORTCULLIS, KEY and APP_ID. SCREENSHOT_DIR says where each page's screenshot goes. Chromium is
// Debian's (/usr/bin/chromium, or CHROMIUM): Playwright never downloads a browser here.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
    const v = process.env[name];
    assert.ok(v, `${name} is not set: run this through examples/legacy-php/run.sh`);
    return v;
};
const APP_URL = env('APP_URL');
const PORTCULLIS = env('PORTCULLIS');
const KEY = env('KEY');
const APP_ID = env('APP_ID');
const SHOTS = process.env.SCREENSHOT_DIR ?? join(process.cwd(), 'screenshots');
mkdirSync(SHOTS, { recursive: true });

async function api(path) {
    const res = await fetch(`${PORTCULLIS}${path}`, { headers: { Authorization: KEY } });
    return { status: res.status, body: res.status === 200 ? await res.json() : null };
}

const shoot = (page, name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

test('a legacy user signs in to the PHP app through Portcullis and is migrated', async () => {
    const profile = mkdtempSync(join(tmpdir(), 'legacy-php-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
        executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
            '--disable-component-update', '--no-first-run'],
    });
    try {
        const page = context.pages()[0] ?? (await context.newPage());
        page.setDefaultTimeout(15_000);

        // Before: Alice and Bob exist only in the legacy app's table.
        for (const email of ['alice@legacy.example', 'bob@legacy.example']) {
            assert.equal((await api(`/api/user?email=${email}`)).status, 404, `${email} before`);
        }

        // The PHP page needs a signed-in person: mod_auth_openidc sends the browser to Portcullis.
        await page.goto(`${APP_URL}/`);
        await page.waitForURL((u) => u.href.startsWith(`${PORTCULLIS}/oauth2/authorize`));
        const authorize = new URL(page.url());
        assert.equal(authorize.searchParams.get('client_id'), APP_ID);
        assert.equal(authorize.searchParams.get('redirect_uri'), `${APP_URL}/redirect_uri`);
        assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
        await page.locator('#loginId').waitFor();
        await shoot(page, '1-portcullis-login');

        // A wrong password: the login page again, with an error, and nobody migrated.
        await page.fill('#loginId', 'bob');
        await page.fill('#password', 'not-bobs-password');
        await page.click('button[type=submit]');
        await page.locator('#error-summary').waitFor();
        assert.match(await page.locator('#error-summary').innerText(), /not right/);
        await shoot(page, '2-wrong-password');
        assert.equal((await api('/api/user?email=bob@legacy.example')).status, 404);

        // Alice, with the password she had in the legacy app.
        await page.fill('#loginId', 'alice@legacy.example');
        await page.fill('#password', 'alice-password');
        await page.click('button[type=submit]');
        await page.waitForURL(`${APP_URL}/`).catch(async (e) => {
            await shoot(page, '3-php-page-not-reached');
            throw new Error(`the browser is at ${page.url()}, not ${APP_URL}/: ${await page.locator('body').innerText()}`, { cause: e });
        });
        await page.locator('#name').waitFor();
        await shoot(page, '3-php-page-signed-in');
        assert.equal(await page.locator('#name').innerText(), 'Alice Archer');
        assert.equal(await page.locator('#email').innerText(), 'alice@legacy.example');
        const roles = (await page.locator('#roles li').allInnerTexts()).sort();
        assert.deepEqual(roles, ['admin', 'user']);

        // Portcullis has her now: migrated, registered to the PHP app with her legacy roles, and
        // she is the subject the page was given.
        const { status, body } = await api('/api/user?email=alice@legacy.example');
        assert.equal(status, 200, 'alice is in Portcullis after her first sign-in');
        assert.equal(body.user.data?.migrated, true, JSON.stringify(body.user));
        assert.equal(await page.locator('#sub').innerText(), body.user.id);
        const registration = body.user.registrations.find((r) => r.applicationId === APP_ID);
        assert.deepEqual([...registration.roles].sort(), ['admin', 'user']);

        // Signing out ends the Portcullis session too: the app's page asks for a sign-in again.
        await page.click('#logout');
        await page.waitForURL(`${APP_URL}/signed-out.html`);
        await shoot(page, '4-signed-out');
        await page.goto(`${APP_URL}/`);
        await page.waitForURL((u) => u.href.startsWith(`${PORTCULLIS}/oauth2/authorize`));
        await page.locator('#loginId').waitFor();
    } finally {
        await context.close();
        rmSync(profile, { recursive: true, force: true });
    }
});
