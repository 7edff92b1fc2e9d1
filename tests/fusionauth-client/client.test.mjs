// The official FusionAuth TypeScript client (`@fusionauth/typescript-client`, pinned in
// package.json) driven against a running `portcullis serve`: the compatibility promise of MISSION §3
// ("the official FusionAuth client libraries work unchanged"), checked with the library itself rather
// than with hand-written requests.
//
// Needs PORTCULLIS_URL (e.g. http://127.0.0.1:9011) and PORTCULLIS_API_KEY (a key with all
// permissions). The Rust integration test `crates/cli/tests/it/fusionauth_client.rs` starts a server
// and runs this file; by hand: `npm ci --prefix tests/fusionauth-client`, start `portcullis serve
// --dev`, then `PORTCULLIS_URL=... PORTCULLIS_API_KEY=... node --test tests/fusionauth-client/`.
//
// The tests in this file run in order and share the entities they create.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { FusionAuthClient } from '@fusionauth/typescript-client';

const url = process.env.PORTCULLIS_URL;
const apiKey = process.env.PORTCULLIS_API_KEY;
if (!url || !apiKey) {
  throw new Error('set PORTCULLIS_URL and PORTCULLIS_API_KEY to a running `portcullis serve`');
}

/** A client with no tenant header; `tenantClient` below carries X-FusionAuth-TenantId. */
const client = new FusionAuthClient(apiKey, url);
const tenantClient = new FusionAuthClient(apiKey, url);

/**
 * The library rejects with a ClientResponse for any non-2xx status. Returns it, failing if the call
 * succeeded or failed for another reason (a network error, a body the library could not read).
 */
async function rejection(promise) {
  try {
    const res = await promise;
    assert.fail(`expected the call to fail, got ${res.statusCode}: ${JSON.stringify(res.response)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.equal(typeof e?.statusCode, 'number', `not an HTTP error response: ${e?.exception ?? e}`);
    return e;
  }
}

const run = randomUUID().slice(0, 8);
const tenantId = randomUUID();
const email = `ada.${run}@example.com`;
const password = 'correct horse battery staple';
let applicationId;
let editorRoleId;
let userId;
let groupId;

test('createTenant with a caller-chosen id, then retrieveTenant', async () => {
  const created = await client.createTenant(tenantId, { tenant: { name: `Client library ${run}` } });
  assert.equal(created.statusCode, 200);
  assert.equal(created.response.tenant.id, tenantId);
  assert.equal(created.response.tenant.name, `Client library ${run}`);

  const got = await client.retrieveTenant(tenantId);
  assert.equal(got.statusCode, 200);
  assert.equal(got.response.tenant.id, tenantId);
  assert.equal(got.response.tenant.name, `Client library ${run}`);

  const all = await client.retrieveTenants();
  assert.equal(all.statusCode, 200);
  assert.ok(all.response.tenants.some((t) => t.id === tenantId), 'new tenant is listed');
  tenantClient.setTenantId(tenantId);
});

test('createApplication with roles in the tenant, then createApplicationRole', async () => {
  const created = await tenantClient.createApplication(null, {
    application: {
      name: `Billing ${run}`,
      roles: [
        { name: 'admin', isDefault: false, isSuperRole: true, description: 'Everything' },
        { name: 'viewer', isDefault: true },
      ],
    },
  });
  assert.equal(created.statusCode, 200);
  const app = created.response.application;
  applicationId = app.id;
  assert.match(applicationId, /^[0-9a-f-]{36}$/);
  assert.equal(app.name, `Billing ${run}`);
  assert.equal(app.tenantId, tenantId);
  const admin = app.roles.find((r) => r.name === 'admin');
  assert.ok(admin, 'admin role returned');
  assert.match(admin.id, /^[0-9a-f-]{36}$/);
  assert.equal(admin.isDefault, false);
  assert.equal(admin.isSuperRole, true);
  assert.equal(admin.description, 'Everything');
  assert.equal(app.roles.find((r) => r.name === 'viewer')?.isDefault, true);

  editorRoleId = randomUUID();
  const role = await tenantClient.createApplicationRole(applicationId, editorRoleId, {
    role: { name: 'editor', description: 'Can edit invoices' },
  });
  assert.equal(role.statusCode, 200);
  assert.equal(role.response.role.id, editorRoleId);
  assert.equal(role.response.role.name, 'editor');

  const got = await tenantClient.retrieveApplication(applicationId);
  assert.equal(got.statusCode, 200);
  assert.deepEqual(got.response.application.roles.map((r) => r.name).sort(), ['admin', 'editor', 'viewer']);
});

test('register creates a user and its registration with roles', async () => {
  const res = await tenantClient.register(null, {
    user: {
      email,
      password,
      firstName: 'Ada',
      lastName: 'Lovelace',
      birthDate: '1815-12-10',
      data: { original_user_id: 42, migrated: true },
    },
    registration: {
      applicationId,
      roles: ['admin', 'editor'],
      data: { plan: 'gold' },
    },
  });
  assert.equal(res.statusCode, 200);
  const { user, registration } = res.response;
  userId = user.id;
  assert.match(userId, /^[0-9a-f-]{36}$/);
  assert.equal(user.email, email);
  assert.equal(user.tenantId, tenantId);
  assert.equal(user.password, undefined, 'password is write-only');
  assert.equal(registration.applicationId, applicationId);
  assert.deepEqual([...registration.roles].sort(), ['admin', 'editor']);
  assert.deepEqual(registration.data, { plan: 'gold' });

  const got = await tenantClient.retrieveRegistration(userId, applicationId);
  assert.equal(got.statusCode, 200);
  assert.equal(got.response.registration.applicationId, applicationId);
  assert.deepEqual([...got.response.registration.roles].sort(), ['admin', 'editor']);
});

test('register without roles gives the application\'s default roles', async () => {
  const res = await tenantClient.register(null, {
    user: { email: `charles.${run}@example.com`, password },
    registration: { applicationId },
  });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.response.registration.roles, ['viewer']);
});

test('retrieveUserByEmail finds the user, case-insensitively, with its registration', async () => {
  const res = await tenantClient.retrieveUserByEmail(email.toUpperCase());
  assert.equal(res.statusCode, 200);
  const user = res.response.user;
  assert.equal(user.id, userId);
  assert.equal(user.email, email);
  assert.equal(user.firstName, 'Ada');
  assert.equal(user.birthDate, '1815-12-10');
  assert.deepEqual(user.data, { original_user_id: 42, migrated: true });
  assert.equal(user.password, undefined, 'password is write-only');
  assert.equal(typeof user.insertInstant, 'number', 'instants are epoch milliseconds');
  const reg = user.registrations?.find((r) => r.applicationId === applicationId);
  assert.ok(reg, 'the registration comes with the user');
  assert.deepEqual([...reg.roles].sort(), ['admin', 'editor']);
});

test('updateUser replaces and patchUser merges', async () => {
  const put = await tenantClient.updateUser(userId, {
    user: { email, firstName: 'Augusta', lastName: 'King', data: { migrated: true } },
  });
  assert.equal(put.statusCode, 200);
  assert.equal(put.response.user.id, userId);
  assert.equal(put.response.user.firstName, 'Augusta');
  assert.equal(put.response.user.lastName, 'King');
  assert.equal(put.response.user.birthDate, undefined, 'PUT replaces: a field it leaves out is cleared');

  const patched = await tenantClient.patchUser(userId, { user: { middleName: 'Ada', data: { note: 'patched' } } });
  assert.equal(patched.statusCode, 200);
  assert.equal(patched.response.user.firstName, 'Augusta', 'PATCH keeps fields it does not name');
  assert.equal(patched.response.user.middleName, 'Ada');
  assert.deepEqual(patched.response.user.data, { migrated: true, note: 'patched' }, 'PATCH merges data');

  const got = await tenantClient.retrieveUser(userId);
  assert.equal(got.statusCode, 200);
  assert.equal(got.response.user.firstName, 'Augusta');
  assert.equal(got.response.user.lastName, 'King');
  assert.equal(got.response.user.middleName, 'Ada');
});

test('createGroup with a role, createGroupMembers, and the user shows the membership', async () => {
  const created = await tenantClient.createGroup(null, {
    group: { name: `Editors ${run}` },
    roleIds: [editorRoleId],
  });
  assert.equal(created.statusCode, 200);
  const group = created.response.group;
  groupId = group.id;
  assert.equal(group.name, `Editors ${run}`);
  assert.equal(group.tenantId, tenantId);
  // FusionAuth answers a group's roles keyed by application id.
  assert.deepEqual(group.roles?.[applicationId]?.map((r) => r.name), ['editor'], JSON.stringify(group));

  const added = await tenantClient.createGroupMembers({ members: { [groupId]: [{ userId, data: { via: 'client' } }] } });
  assert.equal(added.statusCode, 200);
  const member = added.response.members[groupId][0];
  assert.equal(member.userId, userId);
  assert.match(member.id, /^[0-9a-f-]{36}$/);

  const got = await tenantClient.retrieveUser(userId);
  assert.deepEqual(got.response.user.memberships?.map((m) => m.groupId), [groupId]);
});

test('createAPIKey locked to the tenant and to GET /api/user', async () => {
  const created = await client.createAPIKey(null, {
    apiKey: { tenantId, permissions: { endpoints: { '/api/user': ['GET'] } }, metaData: { attributes: { description: 'read users' } } },
  });
  assert.equal(created.statusCode, 200);
  const key = created.response.apiKey.key;
  assert.equal(typeof key, 'string');
  assert.equal(created.response.apiKey.tenantId, tenantId);

  // No tenant header: the key's tenant is the one used.
  const limited = new FusionAuthClient(key, url);
  const found = await limited.retrieveUserByEmail(email);
  assert.equal(found.statusCode, 200);
  assert.equal(found.response.user.id, userId);
  assert.equal((await rejection(limited.deleteUser(userId))).statusCode, 401, 'DELETE is not allowed');
  assert.equal((await rejection(limited.retrieveTenants())).statusCode, 401, '/api/tenant is not allowed');
});

test('a duplicate email is a 400 with a [duplicate]user.email field error', async () => {
  const err = await rejection(tenantClient.createUser(null, { user: { email: email.toUpperCase(), password } }));
  assert.equal(err.statusCode, 400);
  assert.equal(err.exception.fieldErrors['user.email'][0].code, '[duplicate]user.email');
  assert.equal(typeof err.exception.fieldErrors['user.email'][0].message, 'string');
});

test('without a tenant header and with two tenants, the tenant is required', async () => {
  const err = await rejection(client.retrieveUserByEmail(email));
  assert.equal(err.statusCode, 400);
  assert.ok(
    err.exception.generalErrors.some((e) => e.code === '[TenantIdRequired]'),
    JSON.stringify(err.exception),
  );
});

test('a wrong API key is a 401', async () => {
  const err = await rejection(new FusionAuthClient('not-a-key', url, tenantId).retrieveUser(userId));
  assert.equal(err.statusCode, 401);
});

// FusionAuth's soft delete: DELETE without ?hardDelete=true deactivates, PUT ?reactivate=true restores.
test('login, validateJWT, retrieveJsonWebKeySet and retrieveJWTPublicKey', async () => {
  const res = await tenantClient.login({ loginId: email.toUpperCase(), password, applicationId });
  assert.equal(res.statusCode, 200);
  assert.equal(res.response.user.id, userId);
  const token = res.response.token;
  assert.equal(typeof token, 'string');

  const valid = await client.validateJWT(token);
  assert.equal(valid.statusCode, 200);
  assert.equal(valid.response.jwt.sub, userId);
  assert.equal(valid.response.jwt.aud, applicationId);
  assert.equal(valid.response.jwt.tid, tenantId);
  assert.deepEqual([...valid.response.jwt.roles].sort(), ['admin', 'editor']);

  const kid = JSON.parse(Buffer.from(token.split('.')[0], 'base64url')).kid;
  const jwks = await client.retrieveJsonWebKeySet();
  assert.ok(jwks.response.keys.some((k) => k.kid === kid && !('d' in k)), 'the signing key is published');
  const pem = await client.retrieveJWTPublicKey(kid);
  assert.match(pem.response.publicKey, /^-----BEGIN PUBLIC KEY-----/);

  const wrong = await rejection(tenantClient.login({ loginId: email, password: 'not the password' }));
  assert.equal(wrong.statusCode, 404);
  const nobody = await rejection(tenantClient.login({ loginId: `nobody.${run}@example.com`, password }));
  assert.equal(nobody.statusCode, 404);
});

test('refresh tokens: exchangeRefreshTokenForJWT rotates them, revokeRefreshTokensByUserId ends them', async () => {
  const patched = await tenantClient.patchApplication(applicationId, {
    application: { loginConfiguration: { generateRefreshTokens: true } },
  });
  assert.equal(patched.statusCode, 200);
  const res = await tenantClient.login({ loginId: email, password, applicationId });
  const first = res.response.refreshToken;
  assert.equal(typeof first, 'string');

  const exchanged = await client.exchangeRefreshTokenForJWT({ refreshToken: first });
  assert.equal(exchanged.statusCode, 200);
  assert.equal(typeof exchanged.response.token, 'string');
  const second = exchanged.response.refreshToken;
  assert.notEqual(second, first, 'one-time use: a new refresh token');
  assert.equal((await rejection(client.exchangeRefreshTokenForJWT({ refreshToken: first }))).statusCode, 404);

  const again = await tenantClient.login({ loginId: email, password, applicationId });
  assert.equal((await tenantClient.revokeRefreshTokensByUserId(userId)).statusCode, 200);
  const revoked = await rejection(client.exchangeRefreshTokenForJWT({ refreshToken: again.response.refreshToken }));
  assert.equal(revoked.statusCode, 404);
});

test('importRefreshTokens: a token of the old system is exchanged like ours', async () => {
  const legacy = `legacy-${run}-${randomUUID()}`;
  const imported = await tenantClient.importRefreshTokens({
    refreshTokens: [{ token: legacy, userId, applicationId, startInstant: Date.now() - 3600_000 }],
    validateDbConstraints: true,
  });
  assert.equal(imported.statusCode, 200);
  const exchanged = await client.exchangeRefreshTokenForJWT({ refreshToken: legacy });
  assert.equal(exchanged.statusCode, 200);
  const valid = await client.validateJWT(exchanged.response.token);
  assert.equal(valid.response.jwt.sub, userId);
});

test('changePasswordByIdentity checks the current password', async () => {
  const bad = await rejection(tenantClient.changePasswordByIdentity({
    loginId: email, currentPassword: 'not the password', password: 'a whole new password',
  }));
  assert.equal(bad.statusCode, 404);
  const ok = await tenantClient.changePasswordByIdentity({
    loginId: email, currentPassword: password, password: 'a whole new password',
  });
  assert.equal(ok.statusCode, 200);
  const res = await tenantClient.login({ loginId: email, password: 'a whole new password' });
  assert.equal(res.statusCode, 200);
});

test('deactivateUser keeps the user, inactive; reactivateUser brings it back', async () => {
  const created = await tenantClient.createUser(null, { user: { email: `grace.${run}@example.com`, password } });
  const id = created.response.user.id;
  assert.equal((await tenantClient.deactivateUser(id)).statusCode, 200);
  const got = await tenantClient.retrieveUser(id);
  assert.equal(got.statusCode, 200);
  assert.equal(got.response.user.active, false);
  const back = await tenantClient.reactivateUser(id);
  assert.equal(back.statusCode, 200);
  assert.equal(back.response.user.active, true);
});

test('deactivateApplication keeps the application, inactive; reactivateApplication brings it back', async () => {
  const created = await tenantClient.createApplication(null, { application: { name: `Dormant ${run}` } });
  const id = created.response.application.id;
  assert.equal((await tenantClient.deactivateApplication(id)).statusCode, 200);
  const got = await tenantClient.retrieveApplication(id);
  assert.equal(got.statusCode, 200);
  assert.equal(got.response.application.active, false);
  const back = await tenantClient.reactivateApplication(id);
  assert.equal(back.statusCode, 200);
  assert.equal(back.response.application.active, true);
});

test('importUsers loads users with registrations and existing hashes, all or nothing', async () => {
  const bcrypt = '$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e';
  const imported = await tenantClient.importUsers({
    users: [
      { email: `imp1.${run}@example.com`, password: bcrypt, encryptionScheme: 'bcrypt',
        registrations: [{ applicationId, roles: ['editor'] }], data: { original_user_id: 7 } },
      { email: `imp2.${run}@example.com`, password: 'plaintext-password' },
    ],
  });
  assert.equal(imported.statusCode, 200);
  const got = await tenantClient.retrieveUserByEmail(`imp1.${run}@example.com`);
  assert.deepEqual(got.response.user.registrations[0].roles, ['editor']);
  assert.equal(got.response.user.data.original_user_id, 7);

  const failed = await rejection(tenantClient.importUsers({
    validateDbConstraints: true,
    users: [{ email: `imp3.${run}@example.com` }, { email: `IMP1.${run}@example.com` }],
  }));
  // importUsers is typed `void`, so the library does not parse error bodies; the status is what
  // it reports (the Rust API tests check the fieldErrors).
  assert.equal(failed.statusCode, 400);
  assert.equal((await rejection(tenantClient.retrieveUserByEmail(`imp3.${run}@example.com`))).statusCode, 404);
});

test('deleteUser, then the user is gone (404)', async () => {
  const del = await tenantClient.deleteUser(userId);
  assert.equal(del.statusCode, 200);

  assert.equal((await rejection(tenantClient.retrieveUser(userId))).statusCode, 404);
  assert.equal((await rejection(tenantClient.retrieveUserByEmail(email))).statusCode, 404);
  assert.equal((await rejection(tenantClient.retrieveRegistration(userId, applicationId))).statusCode, 404);
});

test('deleteGroup, deleteApplication and deleteTenant clean up', async () => {
  assert.equal((await tenantClient.deleteGroup(groupId)).statusCode, 200);
  assert.equal((await rejection(tenantClient.retrieveGroup(groupId))).statusCode, 404);
  assert.equal((await tenantClient.deleteApplication(applicationId)).statusCode, 200);
  assert.equal((await rejection(tenantClient.retrieveApplication(applicationId))).statusCode, 404);
  assert.equal((await client.deleteTenant(tenantId)).statusCode, 200);
  assert.equal((await rejection(client.retrieveTenant(tenantId))).statusCode, 404);
});
