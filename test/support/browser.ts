/**
 * Opening a page in a real browser: Debian's headless Chromium driven by
 * puppeteer-core (which downloads nothing). Tests that need it are skipped
 * with CHROMIUM_SKIP where no Chromium is installed.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';

export const CHROMIUM = '/usr/bin/chromium';

/** A skip reason for node:test where Chromium is missing, else false. */
export const CHROMIUM_SKIP: string | false = existsSync(CHROMIUM) ? false : `skipped: no Chromium at ${CHROMIUM}`;

export interface RenderedPage {
  /** Console errors, uncaught page errors and failed requests. */
  errors: string[];
  /** Every src/href the page references, as URLs. */
  references: string[];
  /** Local references whose file does not exist. */
  missing: string[];
  /** References that would leave the machine (http, https, ...). */
  remote: string[];
  /** Per inline SVG: how many <path> elements have drawing commands. */
  svgPaths: number[];
  /** Standard deviation of the screenshot's grey levels (0 for a blank page). */
  screenshotSpread: number;
}

/** Renders each page (file://) in one browser, takes a full-page screenshot of each, and reports what it saw. */
export async function renderPages(pages: ReadonlyArray<{ html: string; screenshot: string }>): Promise<RenderedPage[]> {
  const puppeteer = await import('puppeteer-core');
  const profile = mkdtempSync(join(tmpdir(), 'p2phd-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const rendered: RenderedPage[] = [];
    for (const { html, screenshot } of pages) rendered.push(await renderOne(browser, html, screenshot));
    return rendered;
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

async function renderOne(browser: import('puppeteer-core').Browser, htmlPath: string, screenshotPath: string): Promise<RenderedPage> {
  const page = await browser.newPage();
  try {
    const errors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => errors.push(`page error: ${String(error)}`));
    page.on('requestfailed', (request) => errors.push(`request failed: ${request.url()} (${request.failure()?.errorText ?? '?'})`));
    await page.setViewport({ width: 1300, height: 1000 });
    await page.goto(pathToFileURL(htmlPath).href, { waitUntil: 'load' });
    // Runs in the page (as source text: this project compiles without the DOM's types).
    const { references, svgPaths } = (await page.evaluate(`(() => ({
      references: [...document.querySelectorAll('[src], [href]')].map((element) => element.src || element.href),
      svgPaths: [...document.querySelectorAll('svg')].map((svg) => [...svg.querySelectorAll('path')].filter((path) => (path.getAttribute('d') || '').length > 2).length),
    }))()`)) as { references: string[]; svgPaths: number[] };
    const screenshot = await page.screenshot({ path: screenshotPath as `${string}.png`, fullPage: true });
    const stats = await sharp(Buffer.from(screenshot)).greyscale().stats();
    const local = references.filter((url) => url.startsWith('file:'));
    return {
      errors,
      references,
      missing: local.filter((url) => !existsSync(fileURLToPath(url.split('#')[0]!))),
      remote: references.filter((url) => !url.startsWith('file:')),
      svgPaths,
      screenshotSpread: stats.channels[0]!.stdev,
    };
  } finally {
    await page.close();
  }
}
