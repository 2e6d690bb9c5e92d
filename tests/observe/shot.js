// Opens Prometheus' graph page for one query in Debian's chromium (headless,
// driven by Playwright) and saves a screenshot.
//   node shot.js PROM_URL QUERY OUT.png
const { chromium } = require('playwright-core');

async function main() {
  const [base, query, out] = process.argv.slice(2);
  if (!base || !query || !out) {
    console.error('usage: node shot.js PROM_URL QUERY OUT.png');
    process.exit(2);
  }
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
    // Debian's prometheus ships only the classic UI (/classic/graph, a
    // Rickshaw SVG graph); upstream builds serve the React UI at /graph (a
    // canvas). Use whichever this one serves.
    const params = `g0.expr=${encodeURIComponent(query)}&g0.tab=0&g0.range_input=2m`;
    const classic = (await page.request.get(`${base}/classic/graph`)).ok();
    const url = classic ? `${base}/classic/graph?${params}` : `${base}/graph?${params}`;
    await page.goto(url, { waitUntil: 'networkidle', timeout: 30000 });
    // The graph is drawn after the query returns; wait for it.
    await page.waitForSelector(classic ? '.graph_area svg path, .graph svg path' : 'canvas', { state: 'attached', timeout: 30000 });
    await page.waitForTimeout(1000);
    await page.screenshot({ path: out });
  } finally {
    await browser.close();
  }
}

main().catch((e) => { console.error(`error: ${e.message}`); process.exit(1); });
