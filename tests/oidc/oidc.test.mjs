// Portcullis as an OpenID Provider, checked by parts that are not ours:
//
// - `openid-client` (v6, pinned in package.json) is the relying party: discovery, the code flow
//   with PKCE and its ID-token validation (signature, issuer, audience, nonce, at_hash), refresh,
//   userinfo, introspection, revocation and the logout URL.
// - Debian's Chromium, driven by `playwright-core` (never a downloaded browser), is the person: it
//   signs in on the hosted login page, gets a wrong password wrong, goes through the required
//   password change, enrols an authenticator and signs in with its codes (made by pyotp), and
//   signs out. Each page is saved as a screenshot and checked by `axe-core`
//   (no serious or critical violation).
//
// Needs PORTCULLIS_URL and PORTCULLIS_API_KEY (a key with every permission) of a running
// `portcullis serve`; screenshots go to PORTCULLIS_CI_OUTPUT (default target/ci-output) under
// oidc/. The Rust test `crates/cli/tests/it/oidc.rs` starts a server and runs this file.
//
// The tests run in order and share what they set up.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import * as client from 'openid-client';
import { api, checkPage as check, launchChromium, shotsDir, url } from './support.mjs';

const shots = shotsDir('oidc');

// The relying party's own pages: where the provider sends the browser back to.
let rp;
let rpUrl;
let browser;
let page;
let config;
let app;
const email = `ada-${randomUUID()}@example.com`;
const changer = `grace-${randomUUID()}@example.com`;

before(async () => {
  rp = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><html lang="en"><title>Relying party</title><main><h1>Back at the application</h1></main></html>');
  });
  await new Promise((r) => rp.listen(0, '127.0.0.1', r));
  rpUrl = `http://127.0.0.1:${rp.address().port}`;

  // The issuer is the server's URL, as a deployment sets it.
  const tenants = await api('GET', '/api/tenant');
  const tenant = tenants.json.tenants[0];
  const smtp = process.env.PORTCULLIS_SMTP_PORT;
  let r = await api('PATCH', `/api/tenant/${tenant.id}`, {
    tenant: {
      issuer: url,
      ...(smtp ? { emailConfiguration: { host: '127.0.0.1', port: Number(smtp), security: 'NONE', defaultFromEmail: 'accounts@rp.example' } } : {}),
    },
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  r = await api('POST', '/api/application', {
    application: {
      name: 'Relying party',
      roles: [{ name: 'reader' }],
      oauthConfiguration: {
        authorizedRedirectURLs: [`${rpUrl}/callback`],
        logoutURL: `${rpUrl}/signed-out`,
        enabledGrants: ['authorization_code', 'refresh_token'],
        proofKeyForCodeExchangePolicy: 'Required',
      },
      registrationConfiguration: { enabled: true },
    },
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  app = r.json.application;
  for (const [who, extra] of [[email, {}], [changer, { passwordChangeRequired: true }]]) {
    r = await api('POST', '/api/user/registration', {
      user: { email: who, password: 'correct horse battery', firstName: 'Ada', lastName: 'Lovelace', ...extra },
      registration: { applicationId: app.id, roles: ['reader'] },
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
  }

  config = await client.discovery(new URL(url), app.id, app.oauthConfiguration.clientSecret, undefined, {
    execute: [client.allowInsecureRequests],
  });

  browser = await launchChromium();
  page = await (await browser.newContext()).newPage();
});

after(async () => {
  await browser?.close();
  rp?.close();
});

/** Saves a full-page screenshot and fails on any serious or critical accessibility violation. */
async function checkPage(name) {
  await check(page, path.join(shots, `${name}.png`), { fullPage: true });
}

/** An authorization URL with fresh PKCE, state and nonce. */
async function authorizationUrl(extra = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const to = client.buildAuthorizationUrl(config, {
    redirect_uri: `${rpUrl}/callback`,
    scope: 'openid profile email offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  });
  return { to, verifier, state, nonce };
}

async function signIn(who, password) {
  await page.fill('#loginId', who);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
}

let tokens;

test('discovery names the tenant issuer and S256 only', () => {
  const m = config.serverMetadata();
  assert.equal(m.issuer, url);
  assert.deepEqual(m.code_challenge_methods_supported, ['S256']);
});

test('a wrong password shows the login page again with an error summary', async () => {
  const { to } = await authorizationUrl();
  await page.goto(to.href);
  await checkPage('01-login');
  await signIn(email, 'not the password');
  await page.waitForSelector('#error-summary');
  assert.match(await page.textContent('#error-summary'), /not right/);
  await checkPage('02-login-wrong-password');
});

test('the code flow with PKCE signs in and openid-client validates the ID token', async () => {
  const { to, verifier, state, nonce } = await authorizationUrl();
  await page.goto(to.href);
  await signIn(email, 'correct horse battery');
  await page.waitForURL(`${rpUrl}/callback**`);
  tokens = await client.authorizationCodeGrant(config, new URL(page.url()), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  assert.equal(claims.email, email);
  assert.equal(claims.aud, app.id);
  assert.equal(claims.given_name, 'Ada');
  assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
});

test('a second authorization request is answered by the SSO session without a page', async () => {
  const { to } = await authorizationUrl({ prompt: 'none' });
  await page.goto(to.href);
  await page.waitForURL(`${rpUrl}/callback**`);
  assert.ok(new URL(page.url()).searchParams.get('code'));
});

test('userinfo answers the signed-in person', async () => {
  const info = await client.fetchUserInfo(config, tokens.access_token, tokens.claims().sub);
  assert.equal(info.email, email);
  assert.deepEqual(info.roles, ['reader']);
});

test('refresh, introspection and revocation', async () => {
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.ok(refreshed.access_token);
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
  let info = await client.tokenIntrospection(config, refreshed.access_token);
  assert.equal(info.active, true);
  assert.equal(info.sub, tokens.claims().sub);
  info = await client.tokenIntrospection(config, refreshed.refresh_token);
  assert.equal(info.active, true);
  await client.tokenRevocation(config, refreshed.refresh_token);
  info = await client.tokenIntrospection(config, refreshed.refresh_token);
  assert.equal(info.active, false);
  // The exchanged one is used up: a second use revokes the family.
  await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token));
});

test('the logout URL ends the SSO session and returns to the registered logout URL', async () => {
  const to = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: `${rpUrl}/signed-out`,
    state: 'bye',
  });
  await page.goto(to.href);
  await page.waitForURL(`${rpUrl}/signed-out**`);
  assert.equal(new URL(page.url()).searchParams.get('state'), 'bye');
  const { to: again } = await authorizationUrl({ prompt: 'none' });
  await page.goto(again.href);
  await page.waitForURL(`${rpUrl}/callback**`);
  assert.equal(new URL(page.url()).searchParams.get('error'), 'login_required');
});

test('an unregistered return address after logout is refused on our own page', async () => {
  await page.goto(`${url}/oauth2/logout?client_id=${app.id}&post_logout_redirect_uri=${encodeURIComponent('https://evil.example/')}`);
  assert.ok(page.url().startsWith(url), page.url());
  await checkPage('05-logout-refused');
  await page.goto(`${url}/oauth2/logout`);
  await checkPage('06-signed-out');
});

test('a required password change is a step of the sign-in', async () => {
  const { to, verifier, state, nonce } = await authorizationUrl();
  await page.goto(to.href);
  await signIn(changer, 'correct horse battery');
  await page.waitForSelector('input[name=changePasswordId]', { state: 'attached' });
  await checkPage('03-change-password');
  await page.fill('#password', 'an entirely new passphrase');
  await page.fill('#passwordConfirm', 'an entirely new passphrase');
  await page.click('button[type=submit]');
  await page.waitForSelector('.notice');
  await checkPage('04-password-changed');
  await signIn(changer, 'an entirely new passphrase');
  await page.waitForURL(`${rpUrl}/callback**`);
  const t = await client.authorizationCodeGrant(config, new URL(page.url()), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
  });
  assert.equal(t.claims().email, changer);
});

test('an unknown redirect URI is an error page, not a redirect', async () => {
  const { to } = await authorizationUrl({ redirect_uri: 'https://evil.example/callback' });
  const res = await page.goto(to.href);
  assert.equal(res.status(), 400);
  assert.ok(page.url().startsWith(url));
  await checkPage('07-bad-redirect');
});

/** The text of the first email in the test SMTP server's Maildir that mentions `needle`. */
async function mailFor(needle) {
  const dir = process.env.PORTCULLIS_MAILDIR;
  assert.ok(dir, 'PORTCULLIS_MAILDIR names the test SMTP server\'s Maildir');
  for (let i = 0; i < 100; i++) {
    for (const sub of ['new', 'cur']) {
      let names = [];
      try { names = readdirSync(path.join(dir, sub)); } catch { /* not there yet */ }
      for (const n of names) {
        // Quoted-printable: soft line breaks and =XX escapes.
        const text = readFileSync(path.join(dir, sub, n), 'utf8')
          .replace(/=\r?\n/g, '')
          .replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
        if (text.includes(needle)) return text;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no email mentions ${needle}`);
}

test('self-registration on the hosted page signs the new person in', async () => {
  const { to, verifier, state, nonce } = await authorizationUrl({ prompt: 'login' });
  await page.goto(to.href);
  await page.click('text=Create an account');
  await page.waitForSelector('#passwordConfirm');
  await checkPage('08-register');
  const newcomer = `lin-${randomUUID()}@example.com`;
  await page.fill('#email', newcomer);
  await page.fill('#password', 'a long enough passphrase');
  await page.fill('#passwordConfirm', 'a long enough passphrase');
  await page.fill('#firstName', 'Lin');
  await page.click('button[type=submit]');
  await page.waitForURL(`${rpUrl}/callback**`);
  const t = await client.authorizationCodeGrant(config, new URL(page.url()), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
  });
  assert.equal(t.claims().email, newcomer);
});

test('forgot password: the email from the SMTP server leads to the reset page, then sign-in', async () => {
  const { to, verifier, state, nonce } = await authorizationUrl({ prompt: 'login' });
  await page.goto(to.href);
  await page.click('text=Forgot your password?');
  await page.waitForSelector('#loginId');
  await checkPage('09-forgot');
  await page.fill('#loginId', email);
  await page.click('button[type=submit]');
  await page.waitForLoadState();
  await checkPage('10-forgot-sent');
  const mail = await mailFor(email);
  const link = mail.match(/https?:\/\/[^\s"<>]*reset-password[^\s"<>]*/)?.[0];
  assert.ok(link, `a reset link in the email:\n${mail}`);
  await page.goto(link.replace(/&amp;/g, '&'));
  await page.waitForSelector('#passwordConfirm');
  await checkPage('11-reset');
  await page.fill('#password', 'the reset passphrase');
  await page.fill('#passwordConfirm', 'the reset passphrase');
  await page.click('button[type=submit]');
  await page.waitForSelector('#loginId');
  await signIn(email, 'the reset passphrase');
  await page.waitForURL(`${rpUrl}/callback**`);
  const t = await client.authorizationCodeGrant(config, new URL(page.url()), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
  });
  assert.equal(t.claims().email, email);
});

// The pages below change the tenant's settings, so they come last.

/** The TOTP code by pyotp (an independent RFC 6238 implementation) at `unixSeconds`. */
function totp(secret, unixSeconds) {
  return execFileSync('python3', ['-c',
    'import pyotp, sys; print(pyotp.TOTP(sys.argv[1]).at(int(sys.argv[2])))',
    secret, String(unixSeconds)], { encoding: 'utf8' }).trim();
}

test('two-factor: enrolment with the QR code and recovery codes, the code step, a trusted computer', async () => {
  // A person the legacy system asked to set up an authenticator (Keycloak's CONFIGURE_TOTP).
  const who = `tess-${randomUUID()}@example.com`;
  const r = await api('POST', '/api/user/registration', {
    user: { email: who, password: 'correct horse battery', data: { twoFactorEnrolmentRequired: true } },
    registration: { applicationId: app.id, roles: ['reader'] },
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  let { to, verifier, state, nonce } = await authorizationUrl({ prompt: 'login' });
  await page.goto(to.href);
  await signIn(who, 'correct horse battery');
  await page.waitForSelector('img.qr');
  const qrLoaded = await page.$eval('img.qr', (img) => img.complete && img.naturalWidth > 0);
  assert.ok(qrLoaded, 'the QR code image loads under the page CSP');
  await checkPage('15-two-factor-enrol');
  const secret = await page.inputValue('input[name=secretBase32Encoded]');
  // Each time step is accepted once, and only while the server's clock is within one step of
  // it. A code is taken from the current step or the next, never one used already; a code of
  // the step before could expire between choosing it and the server checking it. When both are
  // used, the next step boundary is awaited.
  const usedSteps = new Set();
  const fresh = async () => {
    for (;;) {
      const step = Math.floor(Date.now() / 1000 / 30);
      for (const s of [step, step + 1]) {
        if (!usedSteps.has(s)) {
          usedSteps.add(s);
          return totp(secret, s * 30);
        }
      }
      await new Promise((done) => setTimeout(done, (step + 1) * 30 * 1000 - Date.now() + 50));
    }
  };
  await page.fill('#code', await fresh());
  await page.click('button[type=submit]');
  await page.waitForSelector('.codes');
  assert.equal(await page.locator('.codes li').count(), 10);
  await checkPage('16-two-factor-recovery-codes');
  // The next code finishes the sign-in; this computer is trusted from now on.
  await page.fill('#code', await fresh());
  await page.check('input[name=trustComputer]');
  await page.click('button[type=submit]:not([name])');
  await page.waitForURL(`${rpUrl}/callback**`);
  let t = await client.authorizationCodeGrant(config, new URL(page.url()), {
    pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce,
  });
  assert.equal(t.claims().email, who);
  // The trusted computer signs in with the password alone.
  ({ to, verifier, state, nonce } = await authorizationUrl({ prompt: 'login' }));
  await page.goto(to.href);
  await signIn(who, 'correct horse battery');
  await page.waitForURL(`${rpUrl}/callback**`);
  // Another browser asks for the code.
  const other = await (await browser.newContext()).newPage();
  ({ to, verifier, state, nonce } = await authorizationUrl());
  await other.goto(to.href);
  await other.fill('#loginId', who);
  await other.fill('#password', 'correct horse battery');
  await other.click('button[type=submit]');
  await other.waitForSelector('input[name=twoFactorId]', { state: 'attached' });
  const main = page;
  page = other;
  try {
    await checkPage('17-two-factor-code');
    await page.fill('#code', '000000');
    await page.click('button[type=submit]:not([name])');
    await page.waitForSelector('.errors, [role=alert]');
    await checkPage('18-two-factor-wrong-code');
    await page.fill('#code', await fresh());
    await page.click('button[type=submit]:not([name])');
    await page.waitForURL(`${rpUrl}/callback**`);
    t = await client.authorizationCodeGrant(config, new URL(page.url()), {
      pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce,
    });
    assert.equal(t.claims().email, who);
  } finally {
    page = main;
    await other.context().close();
  }
});

test('the state pages: email not verified (212), locked (423), legacy system down (503)', async () => {
  const tenant = (await api('GET', '/api/tenant')).json.tenants[0];
  // 212: the tenant verifies emails, and this person has not.
  const unverified = `kim-${randomUUID()}@example.com`;
  let r = await api('POST', '/api/user/registration', {
    user: { email: unverified, password: 'correct horse battery', verified: false },
    registration: { applicationId: app.id },
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  r = await api('PATCH', `/api/tenant/${tenant.id}`, {
    tenant: {
      emailConfiguration: { verifyEmail: true },
      failedAuthenticationConfiguration: { tooManyAttempts: 2, resetCountInSeconds: 60, actionDuration: 1, actionDurationUnit: 'MINUTES' },
    },
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  let { to } = await authorizationUrl({ prompt: 'login' });
  await page.goto(to.href);
  await signIn(unverified, 'correct horse battery');
  await page.waitForLoadState();
  assert.match(await page.textContent('main'), /verif/i);
  await checkPage('12-verify-email');
  // 423: too many failures lock the account.
  for (let i = 0; i < 3; i++) {
    ({ to } = await authorizationUrl({ prompt: 'login' }));
    await page.goto(to.href);
    await signIn(changer, `wrong guess ${i}`);
    await page.waitForLoadState();
  }
  assert.match(await page.textContent('main'), /locked/i);
  await checkPage('13-locked');
  // 503: a person only the legacy system knows, while it does not answer.
  r = await api('POST', '/api/connector', {
    connector: { type: 'Generic', name: 'down', authenticationURL: 'http://127.0.0.1:9/auth' },
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  r = await api('PATCH', `/api/tenant/${tenant.id}`, {
    tenant: { connectorPolicies: [{ connectorId: r.json.connector.id, domains: ['*'], migrate: true }] },
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  ({ to } = await authorizationUrl({ prompt: 'login' }));
  const res = await page.goto(to.href);
  assert.equal(res.status(), 200);
  await signIn(`legacy-${randomUUID()}@example.com`, 'a legacy password');
  await page.waitForLoadState();
  assert.match(await page.textContent('main'), /unavailable|reach/i);
  await checkPage('14-legacy-unavailable');
});
