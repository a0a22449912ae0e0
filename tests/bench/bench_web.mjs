// bench_web.mjs - times the web pages in headless chromium (playwright-core
// of tests/browser) with the Performance API: first paint, first contentful
// paint, DOM interactive, load, and "ready" (the page's data drawn: the
// repository list filled, the file table filled, the tree summary shown).
// Each page is loaded RUNS times in a fresh browser context (cold cache);
// the median and the worst are printed. Run by bench_web.py, which starts
// the hub and passes HUB_BENCH_CONFIG {base, chromium, runs, pages: [{label,
// path, ready}]} (ready: a CSS selector that exists once the data is drawn).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const { chromium } = await import(path.join(here, '..', 'browser', 'node_modules', 'playwright-core', 'index.mjs'));
const cfg = JSON.parse(process.env.HUB_BENCH_CONFIG);

function median(v) { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; }
function fmt(v) { return v.some((x) => typeof x !== 'number') ? '-' : `${median(v).toFixed(1)} / ${Math.max(...v).toFixed(1)}`; }

const browser = await chromium.launch({ executablePath: cfg.chromium, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
const rows = [];
for (const p of cfg.pages) {
  const m = { ttfb: [], fp: [], fcp: [], interactive: [], load: [], ready: [] };
  for (let i = 0; i < cfg.runs; i++) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(cfg.base + p.path, { waitUntil: 'load' });
    await page.waitForSelector(p.ready, { timeout: 60000 });
    // the time the data was drawn: the page's own mark (hub.js ready())
    const readyAt = await page.evaluate(() => (performance.getEntriesByName('hub:ready')[0] || {}).startTime);
    const t = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const paint = Object.fromEntries(performance.getEntriesByType('paint').map((e) => [e.name, e.startTime]));
      return { fp: paint['first-paint'], fcp: paint['first-contentful-paint'], interactive: nav.domInteractive, load: nav.loadEventEnd, ttfb: nav.responseStart };
    });
    m.ttfb.push(t.ttfb); m.fp.push(t.fp); m.fcp.push(t.fcp); m.interactive.push(t.interactive); m.load.push(t.load); m.ready.push(readyAt);
    await ctx.close();
  }
  rows.push([p.label, ...['ttfb', 'fp', 'fcp', 'interactive', 'load', 'ready'].map((k) => fmt(m[k]))]);
}
await browser.close();
const head = ['page', 'first byte', 'first paint', 'first contentful', 'DOM interactive', 'load', 'data drawn'];
const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
console.log(`ms, median / worst of ${cfg.runs} cold loads`);
for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(w[i])).join('  '));
