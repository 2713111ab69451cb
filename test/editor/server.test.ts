/**
 * `p2phd edit`'s server against hostile and broken requests, without a
 * browser: the token and cookie, Host (DNS rebinding), Origin and the custom
 * header, body bounds, path traversal in URLs and save names, id checks, a
 * client that leaves mid-render; then a save whose files re-synthesize to
 * the same pixels through `p2phd synthesize`, and a clean SIGTERM.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readIdMap } from '../../src/data/formats/png';
import { encodeStateBody, REQUEST_HEADER, stateBodyLength, type SessionInfo, type StateHeader } from '../../src/editor/shared/protocol';
import { runCli, temporaryFolder } from '../support/cli';
import { readPngPixels } from '../synthesis/helpers';
import { FIXTURE_INSTANCES, FIXTURE_LABELS, HEIGHT, startEdit, WIDTH, writeModel, type RunningEdit } from './helpers';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function send(edit: RunningEdit, options: { method?: string; path: string; headers?: Record<string, string>; body?: Uint8Array }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: '127.0.0.1', port: edit.port, method: options.method ?? 'GET', path: options.path, headers: { Host: `127.0.0.1:${edit.port}`, ...options.headers } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
      },
    );
    request.on('error', reject);
    if (options.body) request.write(options.body);
    request.end();
  });
}

describe('p2phd edit: the server', () => {
  const folder = temporaryFolder('edit-server');
  const out = join(folder.path, 'out');
  let edit: RunningEdit;
  let cookie = '';
  let session: SessionInfo;
  const token = (): string => new URL(edit.url).searchParams.get('token')!;
  const post = (path: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<Reply> =>
    send(edit, {
      method: 'POST',
      path,
      body,
      headers: { Cookie: cookie, Origin: edit.origin, [REQUEST_HEADER]: '1', 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length), ...headers },
    });
  const initialMaps = (): { labels: Uint16Array; instances: Int32Array } => ({
    labels: new Uint16Array(Buffer.from(session.labels, 'base64').buffer.slice(0)),
    instances: new Int32Array(Buffer.from(session.instances, 'base64').buffer.slice(0)),
  });
  const body = (header: StateHeader, labels?: Uint16Array, instances?: Int32Array): Uint8Array => {
    const maps = initialMaps();
    return encodeStateBody(header, labels ?? maps.labels, instances ?? maps.instances);
  };

  before(async () => {
    const { checkpoint, clusters } = await writeModel(folder.path);
    edit = await startEdit(['--checkpoint', checkpoint, '--clusters', clusters, '--labels', FIXTURE_LABELS, '--instances', FIXTURE_INSTANCES, '--out', out]);
  });
  after(async () => {
    await edit?.stop();
    folder.remove();
  });

  test('binds 127.0.0.1 with a 256-bit token', () => {
    assert.equal(new URL(edit.url).hostname, '127.0.0.1');
    assert.match(token(), /^[0-9a-f]{64}$/);
  });

  test('refuses requests without the token or with a wrong one, and trades the right one for a strict cookie', async () => {
    for (const path of ['/', '/api/session', '/assets/page/main.js', '/api/status']) assert.equal((await send(edit, { path })).status, 403, path);
    assert.equal((await send(edit, { path: '/?token=' + '0'.repeat(64) })).status, 403);
    assert.equal((await send(edit, { path: '/?token=' + token().slice(0, 63) })).status, 403);
    assert.equal((await send(edit, { path: '/?token=' })).status, 403);
    assert.equal((await send(edit, { path: '/', headers: { Cookie: `p2phd_edit_${edit.port}=${token()}` } })).status, 403, 'the token is not the cookie');
    const reply = await send(edit, { path: `/?token=${token()}` });
    assert.equal(reply.status, 303);
    assert.equal(reply.headers['location'], '/');
    const setCookie = String(reply.headers['set-cookie']);
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    assert.ok(!setCookie.includes(token()), 'the cookie is not the token');
    cookie = setCookie.split(';')[0]!;
    const page = await send(edit, { path: '/', headers: { Cookie: cookie } });
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
    assert.equal(page.headers['access-control-allow-origin'], undefined);
    session = JSON.parse((await send(edit, { path: '/api/session', headers: { Cookie: cookie } })).body.toString()) as SessionInfo;
    assert.equal(session.width, WIDTH);
    assert.equal(session.height, HEIGHT);
    assert.equal(session.classes[26]!.name, 'car');
    assert.equal(session.classes[26]!.thing, true);
    assert.equal(session.classes[26]!.styles, 4);
    // Complete styles: every instance of a class with centres has one.
    assert.deepEqual(Object.keys(session.styles).map(Number).sort((a, b) => a - b), [7, 24000, 24001, 24002, 26000, 26001, 26002]);
  });

  test('refuses a foreign, localhost6 or portless Host (DNS rebinding)', async () => {
    for (const host of ['evil.example:' + edit.port, `localhost6:${edit.port}`, '127.0.0.1', `127.0.0.1:${edit.port + 1}`, `[::1]:${edit.port}`]) {
      const reply = await send(edit, { path: '/', headers: { Host: host, Cookie: cookie } });
      assert.equal(reply.status, 421, host);
    }
  });

  test('serves no file by URL path', async () => {
    for (const path of ['/assets/../../package.json', '/assets/%2e%2e/%2e%2e/package.json', '/assets/page/../../../../etc/passwd', '//etc/passwd', '/assets/page/main.ts', '/dist/page/page/main.js', '/api/images/../session', '/api/images/0000']) {
      const reply = await send(edit, { path, headers: { Cookie: cookie } });
      assert.ok(reply.status === 404 || reply.status === 400, `${path}: ${reply.status}`);
      assert.ok(!reply.body.toString().includes('"name"'), path);
    }
  });

  test('state changes need the page Origin, the custom header and an octet-stream body of the right size', async () => {
    const good = body({ styles: session.styles, scale: 2 });
    assert.equal((await post('/api/render', good, { Origin: 'http://evil.example' })).status, 403);
    assert.equal((await post('/api/render', good, { Origin: `http://localhost:${edit.port}` })).status, 403);
    assert.equal((await post('/api/render', good, { [REQUEST_HEADER]: '' })).status, 403);
    assert.equal((await post('/api/render', good, { 'Content-Type': 'text/plain' })).status, 415);
    assert.equal((await post('/api/render', good, { 'Sec-Fetch-Site': 'cross-site' })).status, 403);
    assert.equal((await post('/api/render', good, { Cookie: '' })).status, 403);
    // Larger than any state of this image: refused from its Content-Length, before reading.
    const huge = stateBodyLength(1 << 20, WIDTH * HEIGHT) + 1;
    assert.equal((await post('/api/render', new Uint8Array(16), { 'Content-Length': String(huge) })).status, 413);
    assert.equal((await post('/api/render', good.subarray(0, good.length - 2))).status, 400);
    assert.equal((await send(edit, { method: 'PUT', path: '/api/render', headers: { Cookie: cookie } })).status, 405);
    const ok = await post('/api/render', good);
    assert.equal(ok.status, 200, ok.body.toString());
    const reply = JSON.parse(ok.body.toString()) as { image: string; width: number };
    assert.equal(reply.width, WIDTH / 2);
    const image = await send(edit, { path: `/api/images/${reply.image}`, headers: { Cookie: cookie } });
    assert.equal(image.status, 200);
    assert.equal(image.headers['content-type'], 'image/png');
  });

  test('checks ids: labels below label_nc, instance ids of their own class, styles within their class', async () => {
    const { labels, instances } = initialMaps();
    const badLabel = labels.slice();
    badLabel[5] = 35;
    assert.equal((await post('/api/render', body({ styles: session.styles }, badLabel))).status, 422);
    const badInstance = instances.slice();
    const car = badInstance.indexOf(26000);
    badInstance[car] = 24005;
    assert.equal((await post('/api/render', body({ styles: session.styles }, undefined, badInstance))).status, 422);
    assert.equal((await post('/api/render', body({ styles: { ...session.styles, 26000: 4 } }))).status, 422);
    assert.equal((await post('/api/render', body({ styles: { 11: 0 } }))).status, 422, 'building has no styles');
    assert.equal((await post('/api/render', body({ styles: { '../x': 0 } as Record<string, number> }))).status, 400);
    assert.equal((await post('/api/render', body({ styles: session.styles, scale: 3 }))).status, 400);
  });

  test('save names stay inside --out', async () => {
    for (const name of ['../escape', 'a/b', '.hidden', '..', 'x\\y', '', 'a'.repeat(101), '/tmp/abs', 'name with space']) {
      const reply = await post('/api/save', body({ styles: session.styles, name }));
      assert.equal(reply.status, 400, `${JSON.stringify(name)}: ${reply.status}`);
    }
    assert.deepEqual(existsSync(out) ? readdirSync(out) : [], []);
    assert.ok(!existsSync(join(folder.path, 'escape_styles.json')));
  });

  test('a client that leaves mid-render does not hurt the server', async () => {
    const { labels, instances } = initialMaps();
    labels.fill(7, 0, 2000);
    instances.fill(7, 0, 2000);
    const payload = body({ styles: session.styles }, labels, instances);
    await new Promise<void>((resolve) => {
      const request = httpRequest({
        host: '127.0.0.1',
        port: edit.port,
        method: 'POST',
        path: '/api/render',
        headers: { Host: `127.0.0.1:${edit.port}`, Cookie: cookie, Origin: edit.origin, [REQUEST_HEADER]: '1', 'Content-Type': 'application/octet-stream', 'Content-Length': String(payload.length) },
      });
      request.on('error', () => resolve());
      request.write(payload);
      request.end();
      setTimeout(() => {
        request.destroy();
        resolve();
      }, 30);
    });
    // Half a body, then gone.
    await new Promise<void>((resolve) => {
      const request = httpRequest({
        host: '127.0.0.1',
        port: edit.port,
        method: 'POST',
        path: '/api/render',
        headers: { Host: `127.0.0.1:${edit.port}`, Cookie: cookie, Origin: edit.origin, [REQUEST_HEADER]: '1', 'Content-Type': 'application/octet-stream', 'Content-Length': String(payload.length) },
      });
      request.on('error', () => resolve());
      request.write(payload.subarray(0, 1000));
      setTimeout(() => {
        request.destroy();
        resolve();
      }, 30);
    });
    const after = await post('/api/render', payload);
    assert.equal(after.status, 200);
  });

  test('a save writes the four files, and synthesize on them gives the same pixels', async () => {
    const { labels, instances } = initialMaps();
    // A new car (26003) in the sky, style 2; the first car restyled.
    for (let y = 10; y < 20; y++) for (let x = 100; x < 130; x++) {
      labels[y * WIDTH + x] = 26;
      instances[y * WIDTH + x] = 26003;
    }
    const styles = { ...session.styles, 26003: 2, 26000: 3 };
    const reply = await post('/api/save', body({ styles, name: 'edited' }, labels, instances));
    assert.equal(reply.status, 200, reply.body.toString());
    assert.deepEqual(readdirSync(out).sort(), ['edited.png', 'edited_gtFine_instanceIds.png', 'edited_gtFine_labelIds.png', 'edited_styles.json']);
    const savedLabels = await readIdMap(join(out, 'edited_gtFine_labelIds.png'));
    const savedInstances = await readIdMap(join(out, 'edited_gtFine_instanceIds.png'));
    assert.deepEqual([...savedLabels.ids], [...labels]);
    assert.deepEqual([...savedInstances.ids], [...instances]);
    assert.equal(readFileSync(join(out, 'edited_gtFine_labelIds.png'))[24], 8, 'label map: 8-bit');
    assert.equal(readFileSync(join(out, 'edited_gtFine_instanceIds.png'))[24], 16, 'instance map: 16-bit');
    const savedStyles = JSON.parse(readFileSync(join(out, 'edited_styles.json'), 'utf8')) as Record<string, number>;
    assert.equal(savedStyles['26003'], 2);
    assert.equal(savedStyles['26000'], 3);

    const again = join(folder.path, 'again');
    const result = await runCli([
      'synthesize', '--checkpoint', join(folder.path, 'tiny.safetensors'), '--clusters', join(folder.path, 'tiny_clusters.safetensors'),
      '--labels', join(out, 'edited_gtFine_labelIds.png'), '--instances', join(out, 'edited_gtFine_instanceIds.png'),
      '--style-map', join(out, 'edited_styles.json'), '--out', again,
    ]);
    assert.equal(result.status, 0, result.stderr);
    const resynthesized = await readPngPixels(join(again, 'edited_gtFine_labelIds.png'));
    const saved = await readPngPixels(join(out, 'edited.png'));
    assert.equal(resynthesized.width, WIDTH);
    assert.ok(Buffer.from(resynthesized.data).equals(Buffer.from(saved.data)), 'synthesize gives the pixels the editor saved');
  });

  test('the starting styles are the ones synthesize --style random draws for the same --seed', async () => {
    const reply = await post('/api/save', body({ styles: session.styles, name: 'start' }));
    assert.equal(reply.status, 200, reply.body.toString());
    const again = join(folder.path, 'start');
    const result = await runCli([
      'synthesize', '--seed', '3', '--checkpoint', join(folder.path, 'tiny.safetensors'), '--clusters', join(folder.path, 'tiny_clusters.safetensors'),
      '--labels', FIXTURE_LABELS, '--instances', FIXTURE_INSTANCES, '--out', again,
    ]);
    assert.equal(result.status, 0, result.stderr);
    const fresh = await readPngPixels(join(again, 'synthcity_001000_000019_gtFine_labelIds.png'));
    const saved = await readPngPixels(join(out, 'start.png'));
    assert.ok(Buffer.from(fresh.data).equals(Buffer.from(saved.data)), 'same image as synthesize --seed 3');
  });

  test('the token is never logged, and SIGTERM ends the editor with 143 and no temporary files', async () => {
    const result = await edit.stop();
    assert.equal(result.status, 143, result.stderr);
    assert.ok(!result.stderr.includes(token()), 'token in the log');
    assert.deepEqual(readdirSync(out).filter((name) => name.startsWith('.')), []);
  });
});
