// The browser test of the jobs dashboard (issue 27), run by browser_e2e_test.go against a
// server it started: Debian's Chromium, headless, driven by playwright-core (never a
// downloaded browser). With the admin key as the Basic password the dashboard lists the
// job of kind JOB_KIND among the completed jobs; without a key, /admin/jobs/ answers 401
// with a Basic challenge. It prints one line per check and exits non-zero on a failure.
//
//   ADMIN_URL=http://127.0.0.1:8081 ADMIN_KEY=idadm_... JOB_KIND=outbox.email node dashboard.mjs
import { chromium } from 'playwright-core';

const base = process.env.ADMIN_URL;
const key = process.env.ADMIN_KEY;
const kind = process.env.JOB_KIND;
if (!base || !key || !kind) {
  console.error('ADMIN_URL, ADMIN_KEY and JOB_KIND are required');
  process.exit(2);
}
const timeout = Number(process.env.TIMEOUT_MS || 30000);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
let failed = false;
const fail = (msg) => { console.log(`FAIL ${msg}`); failed = true; };
try {
  // With the key: the completed jobs list names the job's kind.
  const withKey = await browser.newContext({ httpCredentials: { username: 'operator', password: key } });
  const page = await withKey.newPage();
  const res = await page.goto(`${base}/admin/jobs/jobs?state=completed`, { timeout });
  if (res.status() !== 200) {
    fail(`with the key: /admin/jobs/jobs answered ${res.status()}, want 200`);
  } else {
    try {
      await page.getByText(kind, { exact: true }).first().waitFor({ timeout });
      console.log(`ok with the key: the dashboard lists a ${kind} job`);
    } catch (e) {
      fail(`with the key: no ${kind} job on the page within ${timeout} ms: ${e.message}\n${(await page.content()).slice(0, 2000)}`);
    }
  }
  await withKey.close();

  // Without a key: 401 and a Basic challenge, so a browser asks for the key. Headless
  // Chromium has nobody to ask: it ends the navigation with ERR_INVALID_AUTH_CREDENTIALS
  // once it has seen the 401, so the response is taken as it arrives.
  const anonymous = await browser.newContext();
  const page2 = await anonymous.newPage();
  const seen = page2.waitForResponse((r) => new URL(r.url()).pathname === '/admin/jobs/', { timeout });
  await page2.goto(`${base}/admin/jobs/`, { timeout }).catch((e) => console.log(`(navigation without a key: ${e.message.split('\n')[0]})`));
  const res2 = await seen;
  const challenge = (await res2.allHeaders())['www-authenticate'] || '';
  if (res2.status() !== 401) {
    fail(`without a key: /admin/jobs/ answered ${res2.status()}, want 401`);
  } else if (!/Basic realm="identity-admin"/.test(challenge)) {
    fail(`without a key: the 401 has no Basic challenge (WWW-Authenticate: ${JSON.stringify(challenge)})`);
  } else {
    console.log('ok without a key: 401 with a Basic challenge');
  }
  await anonymous.close();
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
