// What the browser tests of this folder share: the server under test, its API, Debian's
// Chromium, and the screenshot and accessibility check of each page.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const url = process.env.PORTCULLIS_URL;
export const apiKey = process.env.PORTCULLIS_API_KEY;
if (!url || !apiKey) {
  throw new Error('set PORTCULLIS_URL and PORTCULLIS_API_KEY to a running `portcullis serve`');
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** A call to the Portcullis API with the key. */
export async function api(method, p, body) {
  const res = await fetch(`${url}${p}`, {
    method,
    headers: { authorization: apiKey, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

/** The folder of a test's screenshots in the CI output. */
export function shotsDir(name) {
  const dir = path.join(process.env.PORTCULLIS_CI_OUTPUT ?? 'target/ci-output', name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Debian's Chromium, headless; playwright-core never downloads a browser of its own. */
export function launchChromium() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run'],
  });
}

/** Saves a screenshot to `file` and fails on any serious or critical accessibility violation. */
export async function checkPage(page, file, { fullPage = false } = {}) {
  await page.screenshot({ path: file, fullPage });
  // Evaluated over the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(`${axeSource};0`);
  const result = await page.evaluate(() => globalThis.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help}`), [], `accessibility violations on ${path.basename(file)}`);
}
