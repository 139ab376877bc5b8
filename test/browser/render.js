// Opens a page in Debian's headless Chromium through playwright-core, the
// way a person would open pg_apikey's report, and says what happened as one
// JSON object on stdout:
//   errors     console errors and uncaught page errors
//   requests   every URL the page asked for beyond itself (none expected)
//   overflow   how many CSS pixels wider than the window the page is
//   pdfPages   the pages of its print version (A4)
//   title, sections, svgs
// and writes a screenshot of the window (and, with --full, of the whole
// page) to PNG.
//
// Usage: node render.js PAGE.html SHOT.png [--width=N] [--height=N] [--full]
//                       [--element=SELECTOR]   (a screenshot of that element)
// playwright-core is found through NODE_PATH (scripts/lib.sh installs it).
'use strict';

const path = require('path');
const { chromium } = require('playwright-core');

function option(name, fallback) {
	const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
	return arg ? Number(arg.split('=')[1]) : fallback;
}

async function main() {
	const [page_file, shot] = process.argv.slice(2);
	const url = 'file://' + path.resolve(page_file);
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-quic',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
	const result = { errors: [], requests: [] };
	try {
		const page = await browser.newPage({
			viewport: { width: option('width', 1280), height: option('height', 900) },
		});
		page.on('console', (m) => { if (m.type() === 'error') result.errors.push(m.text()); });
		page.on('pageerror', (e) => result.errors.push(String(e)));
		page.on('request', (r) => { if (r.url() !== url) result.requests.push(r.url()); });
		await page.goto(url, { waitUntil: 'load' });
		const element = process.argv.find((a) => a.startsWith('--element='));
		if (element)
			await page.locator(element.slice('--element='.length)).screenshot({ path: shot });
		else
			await page.screenshot({ path: shot, fullPage: process.argv.includes('--full') });
		Object.assign(result, await page.evaluate(() => ({
			title: document.title,
			sections: document.querySelectorAll('section').length,
			svgs: document.querySelectorAll('svg').length,
			overflow: document.documentElement.scrollWidth - window.innerWidth,
		})));
		await page.emulateMedia({ media: 'print' });
		const pdf = (await page.pdf({ format: 'A4', printBackground: true })).toString('latin1');
		result.pdfPages = (pdf.match(/\/Type\s*\/Page[^s]/g) || []).length;
	} finally {
		await browser.close();
	}
	process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((e) => {
	process.stderr.write(String(e && e.stack || e) + '\n');
	process.exit(1);
});
