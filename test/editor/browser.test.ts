/**
 * `p2phd edit` in a real browser (Debian's Chromium through puppeteer-core,
 * loopback only), on a tiny random-weight checkpoint at 256x128: strokes
 * change the label map exactly on the swept disc and the image mostly
 * there; quick strokes cost at most two extra passes; undo and redo restore
 * maps and image bit for bit; a style choice changes its car far more than
 * the rest; a new object gets the next id; a save re-synthesizes to the
 * shown pixels; no console errors. Screenshots go to
 * $P2PHD_EDITOR_SCREENSHOTS (docs/images) when set, else a temporary folder.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli, temporaryFolder } from '../support/cli';
import { CHROMIUM } from '../support/browser';
import { readPngPixels } from '../synthesis/helpers';
import { FIXTURE_INSTANCES, FIXTURE_LABELS, HEIGHT, startEdit, WIDTH, writeModel, type RunningEdit } from './helpers';
import { existsSync } from 'node:fs';

const SKIP = existsSync(CHROMIUM) ? false : 'skipped: chromium not installed';

interface Maps {
  labels: Uint16Array;
  instances: Int32Array;
  styles: Record<string, number>;
  selected: number | null;
}
interface Status {
  currentKey: string;
  shownKey: string;
  idle: boolean;
  fullRequests: number;
  undo: number;
  redo: number;
}

type Page = import('puppeteer-core').Page;

const decodeMaps = (raw: { labels: string; instances: string; styles: Record<string, number>; selected: number | null }): Maps => ({
  labels: new Uint16Array(Buffer.from(raw.labels, 'base64').buffer.slice(0)),
  instances: new Int32Array(Buffer.from(raw.instances, 'base64').buffer.slice(0)),
  styles: raw.styles,
  selected: raw.selected,
});

/** Squared distance from (px, py) to segment a-b (the test's own geometry). */
function distanceSquared(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const length = dx * dx + dy * dy;
  const t = length === 0 ? 0 : Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / length));
  return (px - ax - t * dx) ** 2 + (py - ay - t * dy) ** 2;
}

/** Per pixel, the distance of its centre to a polyline. */
function distanceToPolyline(points: Array<[number, number]>): Float64Array {
  const out = new Float64Array(WIDTH * HEIGHT).fill(Infinity);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      let best = Infinity;
      for (let i = 0; i < points.length; i++) {
        const [ax, ay] = points[i]!;
        const [bx, by] = points[Math.min(i + 1, points.length - 1)]!;
        best = Math.min(best, distanceSquared(x + 0.5, y + 0.5, ax, ay, bx, by));
      }
      out[y * WIDTH + x] = Math.sqrt(best);
    }
  }
  return out;
}

/** Mean absolute RGB difference over the pixels where `where` holds. */
function meanChange(a: Uint8Array, b: Uint8Array, channels: number, where: (p: number) => boolean): number {
  let sum = 0;
  let count = 0;
  for (let p = 0; p < WIDTH * HEIGHT; p++) {
    if (!where(p)) continue;
    for (let c = 0; c < 3; c++) sum += Math.abs(a[p * channels + c]! - b[p * channels + c]!);
    count++;
  }
  return sum / Math.max(1, count * 3);
}

describe('p2phd edit in the browser', { skip: SKIP }, () => {
  const folder = temporaryFolder('edit-browser');
  const out = join(folder.path, 'out');
  const shots = process.env['P2PHD_EDITOR_SCREENSHOTS'] ?? mkdtempSync(join(tmpdir(), 'p2phd-editor-shots-'));
  let edit: RunningEdit;
  let model: { checkpoint: string; clusters: string };
  let browser: import('puppeteer-core').Browser;
  let page: Page;
  let profile: string;
  const errors: string[] = [];

  const hook = async <T>(expression: string): Promise<T> => (await page.evaluate(`window.p2phdEditor.${expression}`)) as T;
  const maps = async (): Promise<Maps> => decodeMaps(await hook('maps()'));
  const pixels = async (): Promise<Uint8Array> => new Uint8Array(Buffer.from(await hook<string>('resultPixels()'), 'base64'));
  const status = (): Promise<Status> => hook<Status>('status()');
  const passes = async (): Promise<number> => ((await page.evaluate(`fetch('/api/status').then((r) => r.json())`)) as { passes: Record<string, number> }).passes['1'] ?? 0;
  /** Waits until no render is running or due and the shown image is the current state's. */
  async function settled(timeoutMs = 30_000): Promise<number> {
    const start = Date.now();
    for (;;) {
      const now = await status();
      if (now.idle && now.shownKey === now.currentKey) return Date.now() - start;
      if (Date.now() - start > timeoutMs) throw new Error(`no settled render in ${timeoutMs} ms: ${JSON.stringify(now)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  async function stroke(points: Array<[number, number]>, steps = 6): Promise<void> {
    const client = async ([x, y]: [number, number]) => hook<{ x: number; y: number }>(`clientPoint(${x}, ${y})`);
    const first = await client(points[0]!);
    await page.mouse.move(first.x, first.y);
    await page.mouse.down();
    for (const point of points.slice(1)) {
      const next = await client(point);
      await page.mouse.move(next.x, next.y, { steps });
    }
    await page.mouse.up();
  }

  before(async () => {
    // Screenshots for the docs may use a trained model (P2PHD_EDITOR_CHECKPOINT, P2PHD_EDITOR_CLUSTERS); the tests' own is random.
    const own = await writeModel(folder.path);
    const checkpoint = process.env['P2PHD_EDITOR_CHECKPOINT'] ?? own.checkpoint;
    const clusters = process.env['P2PHD_EDITOR_CLUSTERS'] ?? own.clusters;
    model = { checkpoint, clusters };
    edit = await startEdit(['--checkpoint', checkpoint, '--clusters', clusters, '--labels', FIXTURE_LABELS, '--instances', FIXTURE_INSTANCES, '--out', out]);
    const puppeteer = await import('puppeteer-core');
    profile = mkdtempSync(join(tmpdir(), 'p2phd-chromium-'));
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      userDataDir: profile,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-proxy-server'],
    });
    page = await browser.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => errors.push(`page error: ${String(error)}`));
    page.on('requestfailed', (request) => errors.push(`request failed: ${request.url()} (${request.failure()?.errorText ?? '?'})`));
    page.on('request', (request) => {
      if (!request.url().startsWith(edit.origin) && !request.url().startsWith('blob:')) errors.push(`left loopback: ${request.url()}`);
    });
    await page.setViewport({ width: 1600, height: 660 });
    await page.goto(edit.url, { waitUntil: 'load' });
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
    await settled(60_000);
    assert.ok(!page.url().includes('token'), 'the token leaves the address bar');
  });

  after(async () => {
    await browser?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await edit?.stop();
    folder.remove();
    if (!process.env['P2PHD_EDITOR_SCREENSHOTS']) rmSync(shots, { recursive: true, force: true });
  });

  test('a stroke changes the label map exactly on the swept disc, and the image mostly there', async () => {
    await hook('setZoom(2, 0, 0)');
    await hook('setTool("brush")');
    await hook('selectClass(21)');
    await hook('setBrush("round", 9)');
    const before = await maps();
    const imageBefore = await pixels();
    const started = Date.now();
    await stroke([[40.25, 100.25], [110.25, 100.25], [150.25, 80.25]]);
    const changedAt = Date.now() - started;
    const after = await maps();
    const recorded = await hook<{ points: Array<[number, number]>; brush: { size: number } } | null>('lastStroke()');
    assert.ok(recorded && recorded.points.length >= 3);
    // The pointer's image points lie on the intended path (the page's mapping from the screen).
    for (const [x, y] of recorded.points) assert.ok(x >= 39.5 && x <= 151 && y >= 79.5 && y <= 101, `${x},${y}`);
    const distance = distanceToPolyline(recorded.points);
    const radius = recorded.brush.size / 2;
    let inside = 0;
    for (let p = 0; p < WIDTH * HEIGHT; p++) {
      const covered = distance[p]! <= radius;
      if (covered) {
        inside++;
        assert.equal(after.labels[p], 21, `pixel ${p} inside the stroke`);
        assert.equal(after.instances[p], 21);
      } else {
        assert.equal(after.labels[p], before.labels[p], `pixel ${p} outside the stroke`);
        assert.equal(after.instances[p], before.instances[p]);
      }
    }
    assert.ok(inside > 500, `${inside} pixels painted`);
    const seconds = await settled(20_000);
    const image = await pixels();
    const near = meanChange(imageBefore, image, 4, (p) => distance[p]! <= radius);
    const far = meanChange(imageBefore, image, 4, (p) => distance[p]! > radius + 32);
    assert.ok(near > 4 * far, `mean change inside the stroke ${near.toFixed(2)}, beyond 32 px ${far.toFixed(2)}`);
    assert.ok(changedAt + seconds < 20_000);
    await page.screenshot({ path: join(shots, 'editor-stroke.png') as `${string}.png` });
  });

  test('five quick strokes cost at most two extra passes and end on the final state', async () => {
    await settled();
    const before = await passes();
    await hook('selectClass(8)');
    for (let i = 0; i < 5; i++) await stroke([[20 + 20 * i + 0.25, 30.25], [30 + 20 * i + 0.25, 40.25]], 2);
    await settled();
    const extra = (await passes()) - before;
    assert.ok(extra >= 1 && extra <= 2, `${extra} passes`);
    const now = await status();
    assert.equal(now.shownKey, now.currentKey);
  });

  test('two undos restore maps and image bit for bit; redo restores the stroke and its image', async () => {
    await settled();
    const state0 = { maps: await maps(), image: await pixels() };
    await hook('selectClass(23)');
    await stroke([[60.25, 60.25], [90.25, 60.25]]);
    await settled();
    const state1 = { maps: await maps(), image: await pixels() };
    await stroke([[60.25, 20.25], [60.25, 50.25]]);
    await settled();
    assert.notDeepEqual(await maps(), state1.maps);
    await page.keyboard.down('Control');
    await page.keyboard.press('z');
    await page.keyboard.press('z');
    await page.keyboard.up('Control');
    await settled();
    const undone = await maps();
    assert.deepEqual([...undone.labels], [...state0.maps.labels]);
    assert.deepEqual([...undone.instances], [...state0.maps.instances]);
    assert.deepEqual(undone.styles, state0.maps.styles);
    assert.ok(Buffer.from(await pixels()).equals(Buffer.from(state0.image)), 'image after two undos');
    await page.keyboard.down('Control');
    await page.keyboard.down('Shift');
    await page.keyboard.press('z');
    await page.keyboard.up('Shift');
    await page.keyboard.up('Control');
    await settled();
    const redone = await maps();
    assert.deepEqual([...redone.labels], [...state1.maps.labels]);
    assert.ok(Buffer.from(await pixels()).equals(Buffer.from(state1.image)), 'image after redo');
  });

  test('choosing a style for one car writes it and changes that car far more than the rest', async () => {
    await settled();
    const before = await maps();
    const car = 26001;
    const at = before.instances.indexOf(car);
    assert.ok(at >= 0);
    await hook('setTool("select")');
    const point = await hook<{ x: number; y: number }>(`clientPoint(${(at % WIDTH) + 0.5}, ${Math.floor(at / WIDTH) + 0.5})`);
    await page.mouse.click(point.x, point.y);
    await page.waitForSelector('#gallery button.style');
    const count = await page.$$eval('#gallery button.style', (buttons) => buttons.length);
    assert.ok(count >= 2, `${count} styles`);
    const current = before.styles[String(car)]!;
    const choice = (current + 1) % count;
    const imageBefore = await pixels();
    // Let the thumbnails render, for the screenshot.
    await page.waitForFunction(`[...document.querySelectorAll('#gallery canvas')].filter((c) => c.width > 1).length === ${count}`, { timeout: 30_000 });
    await page.click(`#gallery button.style[data-index="${choice}"]`);
    await settled();
    const after = await maps();
    assert.equal(after.styles[String(car)], choice);
    assert.deepEqual([...after.labels], [...before.labels]);
    const image = await pixels();
    const inCar = meanChange(imageBefore, image, 4, (p) => before.instances[p] === car);
    // The car's bounding box grown by 32 px: beyond it, G's receptive field still reaches, and instance norm's statistics, but little else.
    let [x0, y0, x1, y1] = [WIDTH, HEIGHT, 0, 0];
    for (let p = 0; p < WIDTH * HEIGHT; p++) {
      if (before.instances[p] !== car) continue;
      const x = p % WIDTH;
      const y = Math.floor(p / WIDTH);
      [x0, y0, x1, y1] = [Math.min(x0, x), Math.min(y0, y), Math.max(x1, x), Math.max(y1, y)];
    }
    const far = (p: number): boolean => {
      const x = p % WIDTH;
      const y = Math.floor(p / WIDTH);
      return x < x0 - 32 || x > x1 + 32 || y < y0 - 32 || y > y1 + 32;
    };
    const rest = meanChange(imageBefore, image, 4, far);
    assert.ok(inCar > 3 * rest, `car ${inCar.toFixed(2)}, beyond 32 px ${rest.toFixed(2)}`);
    await page.screenshot({ path: join(shots, 'editor-styles.png') as `${string}.png` });
  });

  test('a new object of a thing class gets the next free id of its class', async () => {
    await hook('setTool("brush")');
    await hook('selectClass(26)');
    // Starting off any car (a car is selected from the last test): a new car.
    await stroke([[200.25, 20.25], [230.25, 25.25]]);
    const now = await maps();
    const ids = new Set<number>();
    const recorded = await hook<{ points: Array<[number, number]>; brush: { size: number } }>('lastStroke()');
    const distance = distanceToPolyline(recorded.points);
    for (let p = 0; p < WIDTH * HEIGHT; p++) if (distance[p]! <= recorded.brush.size / 2) ids.add(now.instances[p]!);
    assert.deepEqual([...ids], [26003]);
    assert.equal(now.selected, 26003);
    assert.ok(Number.isInteger(now.styles['26003']), 'the new car has a style');
    // A stroke starting on that car grows it; after N, a stroke starting on it makes another.
    await stroke([[230.25, 25.25], [240.25, 30.25]]);
    assert.equal((await maps()).instances[30 * WIDTH + 240], 26003);
    await page.keyboard.press('n');
    await stroke([[240.25, 30.25], [245.25, 40.25]]);
    assert.equal((await maps()).instances[40 * WIDTH + 245], 26004);
    await settled();
    await page.select('#view', 'overlay');
    await page.screenshot({ path: join(shots, 'editor-overlay.png') as `${string}.png` });
    await page.select('#view', 'side');
  });

  test('a save writes the files, and synthesize on them gives the shown pixels', async () => {
    await settled();
    await page.$eval('#save-name', (element) => ((element as unknown as { value: string }).value = ''));
    await page.type('#save-name', 'browser_edit');
    await page.click('#save');
    await page.waitForFunction(`document.getElementById('status-text').textContent.startsWith('saved')`, { timeout: 30_000 });
    const shown = await pixels();
    const again = join(folder.path, 'again');
    mkdirSync(again);
    const result = await runCli([
      'synthesize', '--checkpoint', model.checkpoint, '--clusters', model.clusters,
      '--labels', join(out, 'browser_edit_gtFine_labelIds.png'), '--instances', join(out, 'browser_edit_gtFine_instanceIds.png'),
      '--style-map', join(out, 'browser_edit_styles.json'), '--out', again,
    ]);
    assert.equal(result.status, 0, result.stderr);
    const fresh = await readPngPixels(join(again, 'browser_edit_gtFine_labelIds.png'));
    const saved = await readPngPixels(join(out, 'browser_edit.png'));
    assert.ok(Buffer.from(fresh.data).equals(Buffer.from(saved.data)), 'synthesize = the saved image');
    for (let p = 0; p < WIDTH * HEIGHT; p++) {
      for (let c = 0; c < 3; c++) assert.equal(shown[p * 4 + c], fresh.data[p * fresh.channels + c], `pixel ${p}`);
    }
  });

  test('fill takes the 4-connected region under the click; pick takes its class; the eraser paints its chosen class', async () => {
    await settled();
    const before = await maps();
    // The building region under (5, 50), found by the test's own search.
    const seed = 50 * WIDTH + 5;
    const region = new Set<number>([seed]);
    const stack = [seed];
    while (stack.length > 0) {
      const p = stack.pop()!;
      const x = p % WIDTH;
      for (const q of [x > 0 ? p - 1 : -1, x + 1 < WIDTH ? p + 1 : -1, p - WIDTH, p + WIDTH]) {
        if (q < 0 || q >= WIDTH * HEIGHT || region.has(q)) continue;
        if (before.labels[q] === before.labels[seed] && before.instances[q] === before.instances[seed]) {
          region.add(q);
          stack.push(q);
        }
      }
    }
    await page.click('#tools button[data-tool="fill"]');
    await page.click('#palette .class[data-id="12"]');
    const at = await hook<{ x: number; y: number }>('clientPoint(5.5, 50.5)');
    await page.mouse.click(at.x, at.y);
    const filled = await maps();
    for (let p = 0; p < WIDTH * HEIGHT; p++) {
      assert.equal(filled.labels[p], region.has(p) ? 12 : before.labels[p], `pixel ${p}`);
      assert.equal(filled.instances[p], region.has(p) ? 12 : before.instances[p], `pixel ${p}`);
    }
    // Pick: the class under the click becomes the brush's.
    const car = filled.instances.indexOf(26000);
    await page.click('#tools button[data-tool="eyedropper"]');
    const onCar = await hook<{ x: number; y: number }>(`clientPoint(${(car % WIDTH) + 0.5}, ${Math.floor(car / WIDTH) + 0.5})`);
    await page.mouse.click(onCar.x, onCar.y);
    assert.equal(await page.$eval('#palette .class.active', (element) => (element as unknown as { dataset: { id: string } }).dataset.id), '26');
    // Eraser: paints the class chosen for it.
    await page.select('#eraser-class', '7');
    await page.click('#tools button[data-tool="eraser"]');
    await stroke([[200.25, 60.25], [220.25, 60.25]]);
    const erased = await maps();
    const recorded = await hook<{ points: Array<[number, number]>; brush: { size: number } }>('lastStroke()');
    const distance = distanceToPolyline(recorded.points);
    for (let p = 0; p < WIDTH * HEIGHT; p++) {
      const covered = distance[p]! <= recorded.brush.size / 2;
      assert.equal(erased.labels[p], covered ? 7 : filled.labels[p], `pixel ${p}`);
    }
    await settled();
  });

  test('while dragging, previews at reduced scale, labelled; on pen-up the full render', async () => {
    await settled();
    await hook('setTool("brush")');
    await hook('selectClass(22)');
    const previewsBefore = ((await page.evaluate(`fetch('/api/status').then((r) => r.json())`)) as { passes: Record<string, number> }).passes['2'] ?? 0;
    const client = async (x: number, y: number) => hook<{ x: number; y: number }>(`clientPoint(${x}, ${y})`);
    const start = await client(20.25, 110.25);
    await page.mouse.move(start.x, start.y);
    await page.mouse.down();
    for (let i = 1; i <= 4; i++) {
      const next = await client(20.25 + 15 * i, 110.25);
      await page.mouse.move(next.x, next.y, { steps: 3 });
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    await page.waitForFunction(`document.getElementById('badge').textContent === 'preview'`, { timeout: 20_000 });
    await page.mouse.up();
    await settled();
    const previews = ((await page.evaluate(`fetch('/api/status').then((r) => r.json())`)) as { passes: Record<string, number> }).passes['2'] ?? 0;
    assert.ok(previews > previewsBefore, `${previews - previewsBefore} preview passes`);
    assert.equal(await page.$eval('#badge', (element) => element.textContent), '');
  });

  test('no console errors, no request beyond the server', () => {
    assert.deepEqual(errors, []);
  });
});
