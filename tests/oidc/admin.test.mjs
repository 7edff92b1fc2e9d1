// The admin pages in a real browser: Debian's Chromium, driven by `playwright-core` (never a
// downloaded browser), signs in at /admin through the hosted login as an administrator, sees
// the migration dashboard's chart, creates a user, finds it and deactivates it; a user without
// the admin role gets the 403 page; signing out ends the session. Each page is saved as a 1280×800 screenshot and checked by `axe-core` (no
// serious or critical violation).
//
// Needs PORTCULLIS_URL and PORTCULLIS_API_KEY (a key with every permission) of a running
// `portcullis serve` reached at the address it listens on; screenshots go to
// PORTCULLIS_CI_OUTPUT (default target/ci-output) under admin/. The Rust test
// `crates/cli/tests/it/admin_ui.rs` starts a server and runs this file.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import path from 'node:path';
import { api, checkPage as check, launchChromium, shotsDir, url } from './support.mjs';

const shots = shotsDir('admin');

// The administrator `portcullis admin create` made (the Rust test runs it), and a user without
// the role that this file makes.
const admin = process.env.PORTCULLIS_ADMIN_EMAIL;
const adminPassword = process.env.PORTCULLIS_ADMIN_PASSWORD;
if (!admin || !adminPassword) {
  throw new Error('set PORTCULLIS_ADMIN_EMAIL and PORTCULLIS_ADMIN_PASSWORD (portcullis admin create)');
}
const reader = `reader-${randomUUID()}@example.com`;
const password = 'correct horse battery';
let legacy;
let browser;

before(async () => {
  // A legacy system speaking FusionAuth's Generic Connector contract, knowing one user.
  legacy = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const b = JSON.parse(body || '{}');
      if (b.loginId === 'old@legacy.example' && b.password === 'legacy password') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ user: { email: 'old@legacy.example', firstName: 'Old' } }));
      } else {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{}');
      }
    });
  });
  await new Promise((r) => legacy.listen(0, '127.0.0.1', r));
  const legacyUrl = `http://127.0.0.1:${legacy.address().port}`;

  const tenant = (await api('GET', '/api/tenant')).json.tenants[0];
  const apps = (await api('GET', '/api/application')).json.applications;
  const portcullis = apps.find((a) => a.name === 'Portcullis');
  assert.ok(portcullis, 'a fresh instance has the admin application');
  assert.deepEqual(portcullis.roles.map((r) => r.name), ['admin']);

  let r = await api('POST', '/api/connector', {
    connector: { type: 'Generic', name: 'Old shop', authenticationURL: `${legacyUrl}/login` },
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const connector = r.json.connector.id;
  r = await api('PATCH', `/api/tenant/${tenant.id}`, {
    tenant: {
      data: { legacyUserCount: 40 },
      connectorPolicies: [{ connectorId: connector, domains: ['*'], migrate: true }],
    },
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  // One user migrated today by signing in.
  r = await api('POST', '/api/login', { loginId: 'old@legacy.example', password: 'legacy password' });
  assert.equal(r.status, 200, JSON.stringify(r.json));

  r = await api('POST', '/api/user/registration', {
    user: { email: reader, password },
    registration: { applicationId: portcullis.id, roles: [] },
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));

  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  legacy?.close();
});

/** Saves a 1280×800 screenshot and fails on any serious or critical accessibility violation. */
async function checkPage(page, name) {
  await check(page, path.join(shots, `${name}.png`));
}

async function freshPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  return context.newPage();
}

async function signIn(page, who, secret) {
  await page.goto(`${url}/admin`);
  assert.match(new URL(page.url()).pathname, /^\/oauth2\/authorize/, 'sent to the hosted login');
  await page.fill('input[name=loginId]', who);
  await page.fill('input[name=password]', secret);
  return Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
}

test('an administrator signs in, sees the migration chart, creates, finds and deactivates a user', async () => {
  const page = await freshPage();
  await page.goto(`${url}/admin`);
  await checkPage(page, 'sign-in');
  const [res] = await signIn(page, admin, adminPassword);
  assert.equal(new URL(page.url()).pathname, '/admin');
  assert.equal(res.status(), 200);
  assert.equal(await page.locator('h1').first().textContent(), 'Migration');
  assert.equal(await page.locator('svg.chart').count(), 1);
  assert.equal(await page.locator('svg.chart circle.point').count(), 1, 'one point per day of data');
  assert.match(await page.textContent('main'), /2\.5%/, '1 of 40 legacy users migrated');
  assert.match(await page.textContent('main'), /Old shop/);
  await checkPage(page, 'dashboard');

  // Create a user, find it, deactivate it.
  const grace = `grace-${randomUUID()}@example.com`;
  await Promise.all([page.waitForNavigation(), page.click('nav a[href="/admin/users"]')]);
  await checkPage(page, 'users');
  await Promise.all([page.waitForNavigation(), page.click('a[href="/admin/users/new"]')]);
  await checkPage(page, 'user-new');
  await page.fill('#email', grace);
  await page.fill('#firstName', 'Grace');
  await page.fill('#password', 'a long enough passphrase');
  await Promise.all([page.waitForNavigation(), page.click('main button[type=submit]')]);
  assert.match(await page.textContent('main'), /The user was created\./);
  await page.goto(`${url}/admin/users`);
  await page.fill('#q', grace);
  await Promise.all([page.waitForNavigation(), page.click('main form[role=search] button')]);
  await checkPage(page, 'users-found');
  await Promise.all([page.waitForNavigation(), page.click(`main table a:has-text("${grace}")`)]);
  await Promise.all([page.waitForNavigation(), page.click('button:has-text("Deactivate")')]);
  assert.match(await page.textContent('main'), /deactivated/);
  await checkPage(page, 'user');
  const byEmail = await api('GET', `/api/user?email=${encodeURIComponent(grace)}`);
  assert.equal(byEmail.json.user.active, false, 'deactivated through the page');

  // Try a sign-in against the connector's legacy system.
  await Promise.all([page.waitForNavigation(), page.click('nav a[href="/admin/connectors"]')]);
  await page.fill('#login-1', 'old@legacy.example');
  await page.fill('#password-1', 'legacy password');
  await Promise.all([page.waitForNavigation(), page.click('main form button[type=submit]')]);
  assert.match(await page.textContent('main'), /knows this user and password/);
  assert.doesNotMatch(await page.content(), /legacy password"/, 'the password is not sent back');
  await checkPage(page, 'connectors');

  for (const [path, name] of [['/admin/tenants', 'tenants'], ['/admin/groups', 'groups'], ['/admin/api-keys', 'api-keys'], ['/admin/themes', 'themes'], ['/admin/import-jobs', 'import-jobs'], ['/admin/keys', 'keys'], ['/admin/webhooks', 'webhooks']]) {
    const res = await page.goto(`${url}${path}`);
    assert.equal(res.status(), 200, path);
    await checkPage(page, name);
  }
  // The edit pages of the default tenant and of the admin application, linked from the list.
  const tenantId = (await api('GET', '/api/tenant')).json.tenants[0].id;
  const appId = (await api('GET', '/api/application')).json.applications.find((a) => a.name === 'Portcullis').id;
  for (const [path, name] of [[`/admin/tenants/${tenantId}`, 'tenant'], [`/admin/applications/${appId}`, 'application']]) {
    await page.goto(`${url}/admin/tenants`);
    await Promise.all([page.waitForNavigation(), page.click(`main a[href="${path}"]`)]);
    assert.equal(new URL(page.url()).pathname, path);
    await checkPage(page, name);
  }

  await Promise.all([page.waitForNavigation(), page.click('header button[type=submit]')]);
  await checkPage(page, 'signed-out');
  await page.goto(`${url}/admin`);
  assert.match(new URL(page.url()).pathname, /^\/oauth2\/authorize/, 'signed out: back to the login');
  await page.context().close();
});

test('a user without the admin role gets the 403 page', async () => {
  const page = await freshPage();
  const [res] = await signIn(page, reader, password);
  assert.equal(res.status(), 403);
  assert.match(await page.textContent('h1'), /Not an administrator/);
  assert.equal(await page.locator('svg').count(), 0);
  await checkPage(page, 'forbidden');
  await page.context().close();
});
