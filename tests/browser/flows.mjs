// flows.mjs - the web pages of flist-hub clicked through in a real browser:
// Debian's chromium, headless, driven by playwright-core. Started by
// tests/e2e/test_web_browser.py, which runs the real api, worker and Redis
// servers and passes what it prepared in the environment (HUB_WEB_CONFIG,
// a JSON object). Each flow asserts on what the page shows; a failed flow
// saves a screenshot (and the page's HTML) in the screenshot directory.
// Every page visited is checked for script injection: an alert dialog or
// window.__xss set by one of the planted payloads fails the run.
// Exit status: 0 when every flow passed, 1 otherwise.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const cfg = JSON.parse(process.env.HUB_WEB_CONFIG || '{}');
const only = process.env.HUB_WEB_FLOWS ? process.env.HUB_WEB_FLOWS.split(',') : null;
const TIMEOUT = 20000;

class Failure extends Error {}

function check(cond, msg) {
  if (!cond) throw new Failure(msg);
}

function eq(got, want, msg) {
  if (got !== want) throw new Failure(`${msg}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

async function text(page, sel) {
  return (await page.locator(sel).first().textContent({ timeout: TIMEOUT })) ?? '';
}

// Polls from node (the pages' CSP forbids eval, which page-side waiting
// functions need) until cond() is true or TIMEOUT passes.
async function until(cond, msg) {
  const end = Date.now() + TIMEOUT;
  for (;;) {
    let ok = false;
    try { ok = await cond(); } catch (e) { ok = false; }
    if (ok) return;
    if (Date.now() > end) throw new Failure(msg());
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function waitText(page, sel, needle, msg) {
  let got = '(missing)';
  await until(async () => {
    got = (await page.locator(sel).first().textContent({ timeout: 1000 })) ?? '';
    return got.includes(needle);
  }, () => `${msg}: ${sel} should show ${JSON.stringify(needle)}, shows ${JSON.stringify(got)}`);
}

async function waitValue(page, sel, want, msg) {
  let got = '(missing)';
  await until(async () => (got = await page.locator(sel).inputValue({ timeout: 1000 })) === want,
    () => `${msg}: ${sel} should be ${JSON.stringify(want)}, is ${JSON.stringify(got)}`);
}

async function newPage(ctx, xss) {
  const page = await ctx.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('dialog', async (d) => { xss.push(`dialog ${d.type()}: ${d.message()} on ${page.url()}`); await d.dismiss(); });
  page.on('pageerror', (e) => xss.push(`page error: ${e.message} on ${page.url()}`));
  return page;
}

async function noXss(page, xss) {
  const flag = await page.evaluate(() => window.__xss);
  check(flag === undefined, `window.__xss was set (${flag}) on ${page.url()}`);
  check(xss.length === 0, `script ran or failed: ${xss.join('; ')}`);
}

// ---------------------------------------------------------------- flows

const flows = {};

flows.browse = async (ctx, xss) => {
  const page = await newPage(ctx, xss);
  const base = cfg.base;
  await page.goto(base + '/');
  await page.waitForSelector('#official li a');
  const official = await page.locator('#official li a').allTextContents();
  check(official.includes(cfg.official), `official repositories: ${official}`);
  const contributors = await page.locator('#contributors li a').allTextContents();
  check(contributors.includes(cfg.xssRepo), `contributors list the XSS repository: ${contributors}`);
  check(!contributors.includes(cfg.official), 'an official repository is not a contributor');
  // open the repository by keyboard: focus the link and press Enter
  await page.locator('#contributors a', { hasText: cfg.xssRepo }).focus();
  await page.keyboard.press('Enter');
  await page.waitForURL('**/' + cfg.xssRepo);
  await page.waitForSelector('#files tr td a');
  const names = await page.locator('#files tr td:first-child > :first-child').allTextContents();
  for (const n of cfg.xssNames) check(names.includes(n), `repository shows ${n} as text: ${names}`);
  check(names.includes('latest.flist'), `the link is listed: ${names}`);
  const linkRow = page.locator('#files tr', { hasText: 'latest.flist' });
  check((await linkRow.textContent()).includes('➔'), 'a symlink shows its target');
  // the tag table and a tag page
  await page.waitForSelector('#tags a');
  await page.click('#tags a');
  await page.waitForURL('**/tags/' + cfg.tag);
  await page.waitForSelector('#files tr td a');
  const tagged = await page.locator('#files tr td:first-child a').allTextContents();
  check(tagged.includes(cfg.taggedName), `tag page lists ${cfg.taggedName}: ${tagged}`);
  await noXss(page, xss);
  // 404 pages are real 404s
  const r = await page.goto(base + '/no-such-repository');
  eq(r.status(), 404, 'unknown repository');
  await waitText(page, '#notfound', 'does not exist', '404 page');
  const r2 = await page.goto(base + '/' + cfg.xssRepo + '/tags/nope');
  eq(r2.status(), 404, 'unknown tag');
  await noXss(page, xss);
};

flows.search = async (ctx, xss) => {
  const page = await newPage(ctx, xss);
  await page.goto(cfg.base + '/search');
  const responses = [];
  page.on('request', (req) => { if (req.url().includes('/api/search')) responses.push(req.url()); });
  await page.locator('#q').pressSequentially(cfg.searchTerm, { delay: 30 });
  // the results of the whole term, not of a prefix typed on the way (the
  // URL follows the query once the debounced search for it has run)
  await page.waitForURL((u) => u.toString().includes('q=' + encodeURIComponent(cfg.searchTerm)),
    { timeout: 10000 });
  await waitText(page, '#search-status', 'match', 'search status');
  const cell = '#results tr td:nth-child(2) a';
  await page.waitForFunction(([sel, want]) =>
    [...document.querySelectorAll(sel)].some((a) => a.textContent === want),
  [cell, cfg.searchExpect], { timeout: 10000 }).catch(() => {});
  const rows = await page.locator(cell).allTextContents();
  check(rows.includes(cfg.searchExpect), `search finds ${cfg.searchExpect}: ${rows}`);
  // debounced: far fewer requests than keystrokes, and never the full listing
  check(responses.length < cfg.searchTerm.length, `requests per keystroke: ${responses.length}`);
  check(responses.every((u) => /limit=\d+/.test(u)), 'every search is bounded');
  // the URL follows the query; the result opens the preview
  check(page.url().includes('q=' + encodeURIComponent(cfg.searchTerm)), page.url());
  await page.locator('#results a', { hasText: cfg.searchExpect }).first().click();
  await page.waitForURL(/\.md$/);
  await noXss(page, xss);
  // reflected query parameters stay text
  await page.goto(cfg.base + '/search?q=' + encodeURIComponent('"><img src=x onerror="window.__xss=1;alert(1)">'));
  await waitText(page, '#search-status', 'No flist matches', 'search for the payload');
  eq(await page.locator('#q').inputValue(), '"><img src=x onerror="window.__xss=1;alert(1)">', 'query kept as text');
  await noXss(page, xss);
  // a path variable shown on a page stays text too
  const payload = '"><img src=x onerror="window.__xss=1;alert(1)">';
  await page.goto(cfg.base + '/token/' + encodeURIComponent(payload));
  eq(await text(page, '#token'), payload, 'token page shows the path as text');
  await noXss(page, xss);
};

flows.preview = async (ctx, xss) => {
  const page = await newPage(ctx, xss);
  await page.goto(cfg.base + cfg.previewPath);
  eq(await text(page, '#flist-name'), cfg.previewName, 'file name');
  eq(await text(page, '#md5'), cfg.previewMd5, 'md5');
  eq(await page.locator('#flist-url').inputValue(), cfg.previewUrl, 'source URL');
  // readme: Markdown rendered, raw HTML shown as text, no javascript: link
  await page.waitForSelector('#readme h3');
  eq(await text(page, '#readme h3'), 'Hello web', 'readme heading');
  eq(await text(page, '#readme strong'), 'bold', 'readme emphasis');
  eq(await text(page, '#readme code'), 'zflist', 'readme code');
  eq(await page.locator('#readme li').count(), 2, 'readme list items');
  const hrefs = await page.locator('#readme a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  check(hrefs.includes('https://threefold.io'), `readme link: ${hrefs}`);
  check(hrefs.every((h) => !/^javascript:/i.test(h)), `no javascript: link: ${hrefs}`);
  check((await text(page, '#readme')).includes('<script>'), 'raw HTML in the readme is shown as text');
  eq(await page.locator('#readme script, #readme img, #readme iframe').count(), 0, 'no element from raw HTML');
  // metadata
  await waitText(page, '#metadata', 'Backend', 'metadata box');
  const meta = await text(page, '#metadata');
  check(meta.includes(cfg.previewBackend), `backend ${cfg.previewBackend} in: ${meta}`);
  check(meta.includes('onerror'), `the metadata payload is shown as text: ${meta}`);
  // the tree: summary, browse into a directory, sizes
  await waitText(page, '#tree-summary', 'regular files', 'tree summary');
  check((await text(page, '#tree-summary')).startsWith(cfg.previewSummary), await text(page, '#tree-summary'));
  await page.locator('#tree summary', { hasText: 'etc/' }).first().click();
  await page.waitForSelector('#tree details[open] li span');
  const inner = await page.locator('#tree details[open] li').allTextContents();
  check(inner.some((t) => t.includes('hostname') && t.includes('4 B')), `etc/ shows hostname and its size: ${inner}`);
  await page.fill('#tree-filter', 'big');
  await waitText(page, '#tree', '/bin/big.bin', 'tree filter');
  // download link and .md5 work
  const dl = await page.locator('#download').getAttribute('href');
  const got = await page.evaluate(async (u) => (await fetch(u)).status, dl);
  eq(got, 200, 'download link');
  check((await text(page, '#cmd-zflist')).includes('zflist open ' + cfg.previewName), 'zflist commands');
  await noXss(page, xss);
  // the XSS-named flist and its preview
  await page.goto(cfg.base + cfg.xssPreviewPath);
  await page.waitForSelector('#tree-summary:not(:empty)');
  eq(await text(page, '#flist-name'), cfg.xssNames[0], 'XSS name shown as text');
  await noXss(page, xss);
};

async function jobForm(page, route) {
  await page.goto(cfg.base + route);
  await page.waitForSelector('form.job-form');
}

flows.upload = async (ctx, xss) => {
  const page = await newPage(ctx, xss);
  await jobForm(page, '/upload');
  const seen = [];
  await page.exposeFunction('__seen', (v) => seen.push(v));
  await page.evaluate(() => {
    const bar = document.getElementById('bar');
    new MutationObserver(() => window.__seen(document.getElementById('bar-text').textContent))
      .observe(document.getElementById('bar-text'), { childList: true, characterData: true, subtree: true });
    return !!bar;
  });
  await page.setInputFiles('#file', cfg.uploadFile);
  await page.click('#upload-form button[type=submit]');
  await waitText(page, '#job-done', 'is available', 'upload result');
  const link = page.locator('#result-link');
  eq(await link.textContent(), cfg.uploadPublished, 'published name');
  check(seen.some((s) => / of .* sent$/.test(s)), `bytes sent were shown: ${seen}`);
  check(seen.some((s) => /%$/.test(s)), `job progress was shown: ${seen}`);
  check((await page.locator('#job-log li').count()) > 0, 'the job events are listed');
  eq(await page.locator('#bar').evaluate((b) => b.value), 100, 'progress at the end');
  await link.click();
  await page.waitForURL(/\.md$/);
  await page.waitForSelector('#readme h3');
  await noXss(page, xss);
  // a refused upload shows the hub's message
  await jobForm(page, '/upload');
  await page.setInputFiles('#file', cfg.badUploadFile);
  await page.click('#upload-form button[type=submit]');
  await waitText(page, '#job-error', 'not allowed', 'refused extension');
  // a failing job shows its message
  await page.setInputFiles('#file', cfg.corruptUploadFile);
  await page.click('#upload-form button[type=submit]');
  await waitText(page, '#job-error', 'not a tar archive', 'failed job');
  await noXss(page, xss);
};

flows.uploadFlist = async (ctx, xss) => {
  const page = await newPage(ctx, xss);
  await jobForm(page, '/upload-flist');
  await page.setInputFiles('#file', cfg.flistFile);
  await page.click('#upload-form button[type=submit]');
  await waitText(page, '#job-done', 'is available', 'upload-flist result');
  eq(await text(page, '#result-link'), cfg.flistPublished, 'upload-flist name');
  await noXss(page, xss);
};

flows.merge = async (ctx, xss) => {
  const page = await newPage(ctx, xss);
  await jobForm(page, '/merge');
  for (const src of cfg.mergeSources) {
    await page.fill('#merge-search', src.split('/')[1].replace('.flist', ''));
    const add = page.locator('#merge-candidates button[aria-label="Add ' + src + '"]');
    await add.waitFor();
    await add.click();
  }
  let order = await page.locator('#merge-sources .source').allTextContents();
  eq(order.join(','), cfg.mergeSources.join(','), 'sources in the order added');
  // reorder with the keyboard: focus "down" on the first and press Enter
  await page.locator('#merge-sources li').first().locator('button').nth(1).focus();
  await page.keyboard.press('Enter');
  order = await page.locator('#merge-sources .source').allTextContents();
  eq(order.join(','), [cfg.mergeSources[1], cfg.mergeSources[0]].join(','), 'sources after moving one down');
  await page.fill('#merge-name', cfg.mergeName);
  await page.click('#merge-form button[type=submit]');
  await waitText(page, '#job-done', 'is available', 'merge result');
  eq(await text(page, '#result-link'), cfg.mergePublished, 'merged name');
  // an error from validation is shown
  await page.fill('#merge-name', 'bad/name');
  await page.click('#merge-form button[type=submit]');
  await page.waitForSelector('#job-error:not([hidden])');
  check((await text(page, '#job-error')).length > 0, 'merge error shown');
  await noXss(page, xss);
};

flows.docker = async (ctx, xss) => {
  const page = await newPage(ctx, xss);
  await jobForm(page, '/docker-convert');
  // the page's rendering of a conversion's events (the original's messages,
  // HUB-API.md §13.4): one row per layer, a failure's message shown
  const states = await page.evaluate(() => {
    const ui = jobUi();
    resetUi(ui);
    const evs = [
      { status: 'update', message: 'Pulling docker image: alpine:3.19', progress: 10 },
      { status: 'update', message: 'Downloading layers [1.5 KB / 3 MB]', progress: 20 },
      { status: 'update', message: 'Extracting layer 1 / 3 [6 MB / 12 MB]', progress: 40 },
      { status: 'update', message: 'Building: processing item 1 of 2', progress: 50 },
      { status: 'error', message: 'could not pull this image <img src=x onerror=window.__xss=1>' },
    ];
    return evs.map((e) => applyJobEvent(ui, e));
  });
  eq(states.join(','), ',,,,error', 'event results');
  const layers = await page.locator('#layers li').evaluateAll((ls) => ls.map((l) =>
    [l.querySelector('.layer-id').textContent, l.querySelector('progress').value, l.querySelector('.layer-msg').textContent].join('|')));
  eq(layers.join('; '), 'Download|0|1.5 KB of 3 MB; Layer 1 of 3|100|extracted; Layer 2 of 3|50|extracting 6 MB of 12 MB; Layer 3 of 3|0|waiting',
    'one row per layer');
  eq(await page.locator('#bar').evaluate((b) => b.value), 50, 'overall progress');
  await waitText(page, '#job-error', 'could not pull this image <img', 'job error shown as text');
  await noXss(page, xss);
  await page.fill('#docker-image', 'Not A Valid Image!');
  await page.click('#docker-form button[type=submit]');
  await waitText(page, '#job-error', 'invalid docker image name', 'invalid image name');
  await page.fill('#docker-image', cfg.dockerImage);
  await page.click('#docker-form button[type=submit]');
  if (cfg.dockerExpectError === '*') {
    // not enabled here: the hub's answer is shown as it is
    await page.waitForSelector('#job-error:not([hidden])');
    check((await text(page, '#job-error')).trim().length > 10, 'docker: the refusal is shown');
  } else if (cfg.dockerExpectError) {
    await waitText(page, '#job-error', cfg.dockerExpectError, 'docker conversion refused');
  } else {
    await waitText(page, '#job-done', 'is available', 'docker conversion');
    check((await page.locator('#layers li').count()) > 0, 'progress per layer shown');
  }
  await noXss(page, xss);
};

// The original hub's own HTML forms (plain form posts: no script, no CSRF
// token, its field names), submitted by the browser from the hub's pages:
// answered as the original answers them (HUB-API.md §9.4, §9.5). The same
// form on a page of another origin is refused (403) by the cross-site check.
async function addForm(page, action, fields) {
  await page.evaluate(([a, fs]) => {
    const f = document.createElement('form');
    f.method = 'post';
    f.action = a;
    f.id = 'original-form';
    for (const [k, v] of fs) {
      const i = document.createElement('input');
      i.type = 'hidden';
      i.name = k;
      i.value = v;
      f.appendChild(i);
    }
    document.body.appendChild(f);
  }, [action, fields]);
}

async function submitForm(page) {
  const [resp] = await Promise.all([
    page.waitForNavigation(),
    page.evaluate(() => document.getElementById('original-form').submit()),
  ]);
  return resp;
}

flows.originalForms = async (ctx, xss) => {
  const page = await newPage(ctx, xss);
  await page.goto(cfg.base + '/merge');
  await addForm(page, '/merge', cfg.mergeSources.map((s) => ['flists[]', s]).concat([['name', cfg.originalMergeName]]));
  let resp = await submitForm(page);
  eq(resp.status(), 200, 'the original merge form: status');
  await waitText(page, 'main', 'Well done', 'the original merge form');
  await waitText(page, '#done-file', cfg.originalMergeName + '.flist', 'the original merge form: the flist');
  await page.goto(cfg.base + '/docker-convert');
  await addForm(page, '/docker-convert', [['docker-input', '']]);
  resp = await submitForm(page);
  eq(resp.status(), 200, 'the original docker form: status');
  await waitText(page, '#form-oops', 'Oops: missing docker image name', 'the original docker form');
  check(await page.locator('#form-oops').isVisible(), 'the message is visible');
  await noXss(page, xss);
  // the same merge form on a page that is not the hub's (about:blank: Origin null)
  const other = await newPage(ctx, xss);
  await other.setContent('<p>another site</p>');
  await addForm(other, cfg.base + '/merge', [['flists[]', cfg.mergeSources[0]], ['name', 'crosssite']]);
  resp = await submitForm(other);
  eq(resp.status(), 403, 'a cross-site post of the original form');
  check((await other.content()).includes('cross-site form post refused'), 'the refusal says why');
};

flows.login = async (ctx, xss) => {
  const page = await newPage(ctx, xss);
  const base = cfg.authBase;
  await page.goto(base + '/');
  check(await page.locator('#login').isVisible(), 'a "Log in" link without a session');
  check(!(await page.locator('#logout').isVisible()), 'no "Log out" without a session');
  // a protected page sends to /login-method
  await page.goto(base + '/upload');
  await page.waitForURL('**/login-method');
  await page.click('#login-tfc');
  await page.waitForURL(base + '/');
  await page.waitForSelector('#logout', { state: 'visible' });
  eq(await page.locator('#active-user').inputValue(), cfg.loginUser, 'signed in as');
  // the active repository switcher: the user and their virtual users
  const opts = await page.locator('#active-user option').allTextContents();
  eq(opts.join(','), [cfg.loginUser, cfg.virtualUser].join(','), 'accounts');
  await page.selectOption('#active-user', cfg.virtualUser);
  await page.waitForLoadState('load');
  await waitValue(page, '#active-user', cfg.virtualUser, 'switched repository');
  await page.goto(base + '/upload');
  eq(await page.evaluate(() => document.body.dataset.me), cfg.virtualUser, 'the upload form acts as the virtual user');
  await page.selectOption('#active-user', cfg.loginUser);
  await waitValue(page, '#active-user', cfg.loginUser, 'switched back');
  // the API token page through the login flow
  await page.click('a[href="/token"]');
  await page.waitForURL('**/token/**');
  const token = (await text(page, '#token')).trim();
  check(token.length > 20, `token shown: ${token}`);
  check((await text(page, '#token-example')).includes('Authorization: bearer ' + token), 'curl example');
  const me = await page.evaluate(async ([b, t]) => (await fetch(b + '/api/flist/me', { headers: { Authorization: 'bearer ' + t } })).json(), [base, token]);
  eq(me.payload && me.payload.username, cfg.loginUser, 'the token works on the API');
  // log out: the session is gone
  await page.goto(base + '/');
  await page.click('#logout');
  await page.waitForSelector('#login', { state: 'visible' });
  await page.goto(base + '/merge');
  await page.waitForURL('**/login-method');
  await noXss(page, xss);
};

flows.readonly = async (ctx, xss) => {
  const page = await newPage(ctx, xss);
  await page.goto(cfg.roBase + '/');
  check(await page.locator('.readonly-banner').isVisible(), 'readonly banner shown');
  await page.click('nav a[href="/upload"]');
  await page.waitForURL('**/readonly');
  await waitText(page, 'h1', 'Instance modification disabled', 'readonly page');
  await page.goto(cfg.base + '/');
  check(!(await page.locator('.readonly-banner').isVisible()), 'no banner on a writable hub');
  const r = await page.goto(cfg.base + '/readonly');
  eq(new URL(page.url()).pathname, '/', 'writable hub: /readonly goes to /');
  check(r.ok(), 'home after redirect');
  await noXss(page, xss);
};

flows.phone = async (ctx, xss, browser) => {
  const phone = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  try {
    const page = await newPage(phone, xss);
    for (const p of ['/', '/' + cfg.xssRepo, cfg.previewPath, '/upload', '/search?q=a']) {
      await page.goto(cfg.base + p);
      await page.waitForLoadState('load');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      check(overflow <= 1, `${p} scrolls sideways at phone width by ${overflow}px`);
    }
    await noXss(page, xss);
  } finally {
    await phone.close();
  }
};

// A successful conversion from the docker-registry of tests/e2e/test_docker_browser.py
// (cfg.dockerOkImage, an image of cfg.dockerOkLayers layers): run only when it is given.
flows.dockerOk = async (ctx, xss) => {
  const page = await newPage(ctx, xss);
  await jobForm(page, '/docker-convert');
  await page.fill('#docker-image', cfg.dockerOkImage);
  await page.click('#docker-form button[type=submit]');
  await waitText(page, '#job-done', 'is available', 'docker conversion from the registry');
  const rows = await page.locator('#layers li').evaluateAll((ls) => ls.map((l) =>
    [l.querySelector('.layer-id').textContent, l.querySelector('progress').value].join('|')));
  for (let i = 1; i <= cfg.dockerOkLayers; i++)
    check(rows.includes(`Layer ${i} of ${cfg.dockerOkLayers}|100`), `layer ${i} downloaded: ${rows.join('; ')}`);
  await noXss(page, xss);
};

// ---------------------------------------------------------------- runner

const browser = await chromium.launch({
  executablePath: cfg.chromium || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const failures = [];
const order = ['browse', 'search', 'preview', 'upload', 'uploadFlist', 'merge', 'docker', 'originalForms', 'login', 'readonly',
  'phone'];
if (cfg.dockerOkImage) order.push('dockerOk');
for (const name of order) {
  if (only && !only.includes(name)) continue;
  const ctx = await browser.newContext();
  const xss = [];
  const t0 = Date.now();
  try {
    await flows[name](ctx, xss, browser);
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failures.push(name);
    console.log(`FAIL ${name}: ${e instanceof Failure ? e.message : e.stack}`);
    const pages = ctx.pages();
    const page = pages[pages.length - 1];
    if (page && cfg.screenshots) {
      fs.mkdirSync(cfg.screenshots, { recursive: true });
      const shot = path.join(cfg.screenshots, name + '.png');
      await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
      fs.writeFileSync(path.join(cfg.screenshots, name + '.html'), await page.content().catch(() => ''));
      console.log(`     screenshot: ${shot} (page ${page.url()})`);
    }
  } finally {
    await ctx.close();
  }
}
await browser.close();
console.log(failures.length ? `${failures.length} flow(s) failed: ${failures.join(', ')}` : 'all flows passed');
process.exit(failures.length ? 1 : 0);
