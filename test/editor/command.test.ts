/**
 * `p2phd edit` as a command: its help, its one-line refusals, a model
 * without instance features on a label map alone, and SIGINT.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeStateBody, REQUEST_HEADER, type SessionInfo } from '../../src/editor/shared/protocol';
import { runCli, runCliSync, temporaryFolder } from '../support/cli';
import { readPngPixels } from '../synthesis/helpers';
import { readIdMap } from '../../src/data/formats/png';
import { FIXTURE_INSTANCES, FIXTURE_LABELS, startEdit, TINY_CONFIG, writeModel, writeScaledRandomCheckpoint } from './helpers';

function get(port: number, path: string, cookie = ''): Promise<{ status: number; body: string; cookie: string }> {
  return new Promise((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path, headers: { Cookie: cookie } }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body, cookie: String(response.headers['set-cookie'] ?? '').split(';')[0]! }));
    })
      .on('error', reject)
      .end();
  });
}

describe('p2phd edit: the command', () => {
  const folder = temporaryFolder('edit-command');
  let model: { checkpoint: string; clusters: string };
  let plain: string;

  before(async () => {
    model = await writeModel(folder.path);
    plain = join(folder.path, 'plain.safetensors');
    await writeScaledRandomCheckpoint(plain, { ...TINY_CONFIG, instance_feat: false }, 5);
  });
  after(() => folder.remove());

  test('--help lists the flags', () => {
    const result = runCliSync(['edit', '--help']);
    assert.equal(result.status, 0);
    for (const flag of ['--checkpoint', '--clusters', '--labels', '--instances', '--data', '--out', '--port', '--bind', '--no-open', '--class-names', '--json']) {
      assert.ok(result.stdout.includes(flag), flag);
    }
  });

  test('an instance-feature model without --clusters is refused in one line (exit 2)', async () => {
    const result = await runCli(['edit', '--no-open', '--checkpoint', model.checkpoint, '--labels', FIXTURE_LABELS, '--out', join(folder.path, 'o1')]);
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, /tiny\.safetensors: the model was trained with instance features; give --clusters/);
    assert.ok(!result.stderr.includes('    at '), 'no stack trace');
  });

  test('a port in use is refused in one line (exit 2)', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const result = await runCli(['edit', '--no-open', '--checkpoint', plain, '--labels', FIXTURE_LABELS, '--port', String(port), '--out', join(folder.path, 'o5')]);
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, new RegExp(`--port ${port}: cannot listen \\(the port is in use\\)`));
    } finally {
      blocker.close();
    }
  });

  test('a wrong --class-names file is refused (exit 3)', async () => {
    const names = join(folder.path, 'names.txt');
    writeFileSync(names, 'sky\n*car\n');
    const result = await runCli(['edit', '--no-open', '--checkpoint', plain, '--labels', FIXTURE_LABELS, '--class-names', names, '--out', join(folder.path, 'o2')]);
    assert.equal(result.status, 3, result.stderr);
    assert.match(result.stderr, /--class-names .*names\.txt: 2 names, but the model has label_nc 35/);
  });

  test('--data: a sample file from preprocess gives the same starting maps as its PNGs', async () => {
    const samples = join(folder.path, 'samples');
    const pre = await runCli(['preprocess', '--labels', FIXTURE_LABELS, '--instances', FIXTURE_INSTANCES, '--resize-or-crop', 'none', '--out', samples]);
    assert.equal(pre.status, 0, pre.stderr);
    const edit = await startEdit(['--checkpoint', model.checkpoint, '--clusters', model.clusters, '--data', samples, '--out', join(folder.path, 'o4')]);
    try {
      const token = new URL(edit.url).searchParams.get('token')!;
      const { cookie } = await get(edit.port, `/?token=${token}`);
      const session = JSON.parse((await get(edit.port, '/api/session', cookie)).body) as SessionInfo;
      const labels = new Uint16Array(Buffer.from(session.labels, 'base64').buffer.slice(0));
      const instances = new Int32Array(Buffer.from(session.instances, 'base64').buffer.slice(0));
      assert.deepEqual([...labels], [...(await readIdMap(FIXTURE_LABELS)).ids]);
      assert.deepEqual([...instances], [...(await readIdMap(FIXTURE_INSTANCES)).ids]);
      assert.equal(session.styleUnit, 'instance');
    } finally {
      await edit.stop();
    }
  });

  test('a label_feat model: styles per label id, saved and re-synthesized to the same pixels', async () => {
    const labelFeat = join(folder.path, 'labelfeat.safetensors');
    await writeScaledRandomCheckpoint(labelFeat, { ...TINY_CONFIG, label_feat: true }, 9);
    const out = join(folder.path, 'o6');
    const edit = await startEdit(['--checkpoint', labelFeat, '--clusters', model.clusters, '--labels', FIXTURE_LABELS, '--instances', FIXTURE_INSTANCES, '--out', out]);
    try {
      const token = new URL(edit.url).searchParams.get('token')!;
      const { cookie } = await get(edit.port, `/?token=${token}`);
      const session = JSON.parse((await get(edit.port, '/api/session', cookie)).body) as SessionInfo;
      assert.equal(session.styleUnit, 'label');
      // The fixture's labels with centres in the test clusters: road (7), person (24), car (26).
      assert.deepEqual(Object.keys(session.styles).map(Number).sort((a, b) => a - b), [7, 24, 26]);
      const labels = new Uint16Array(Buffer.from(session.labels, 'base64').buffer.slice(0));
      const instances = new Int32Array(Buffer.from(session.instances, 'base64').buffer.slice(0));
      const body = encodeStateBody({ styles: { ...session.styles, 26: 3 }, name: 'lf' }, labels, instances);
      const status = await new Promise<number>((resolve, reject) => {
        const request = httpRequest(
          {
            host: '127.0.0.1',
            port: edit.port,
            method: 'POST',
            path: '/api/save',
            headers: { Cookie: cookie, Origin: edit.origin, [REQUEST_HEADER]: '1', 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length) },
          },
          (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
          },
        );
        request.on('error', reject);
        request.end(body);
      });
      assert.equal(status, 200);
    } finally {
      await edit.stop();
    }
    assert.equal(JSON.parse(readFileSync(join(out, 'lf_styles.json'), 'utf8'))['26'], 3);
    const again = join(folder.path, 'again6');
    const result = await runCli(['synthesize', '--checkpoint', labelFeat, '--clusters', model.clusters, '--labels', join(out, 'lf_gtFine_labelIds.png'),
      '--instances', join(out, 'lf_gtFine_instanceIds.png'), '--style-map', join(out, 'lf_styles.json'), '--out', again]);
    assert.equal(result.status, 0, result.stderr);
    const fresh = await readPngPixels(join(again, 'lf_gtFine_labelIds.png'));
    const saved = await readPngPixels(join(out, 'lf.png'));
    assert.ok(Buffer.from(fresh.data).equals(Buffer.from(saved.data)));
  });

  test('a model without instance features edits a label map alone; SIGINT ends it with 130', async () => {
    const edit = await startEdit(['--checkpoint', plain, '--labels', FIXTURE_LABELS, '--out', join(folder.path, 'o3')]);
    try {
      const token = new URL(edit.url).searchParams.get('token')!;
      const { cookie } = await get(edit.port, `/?token=${token}`);
      const session = JSON.parse((await get(edit.port, '/api/session', cookie)).body) as SessionInfo;
      assert.equal(session.styleUnit, 'none');
      assert.deepEqual(session.styles, {});
      // Without an instance map the label map stands in: every id is its class.
      const labels = new Uint16Array(Buffer.from(session.labels, 'base64').buffer.slice(0));
      const instances = new Int32Array(Buffer.from(session.instances, 'base64').buffer.slice(0));
      assert.deepEqual([...instances], [...labels]);
      const body = encodeStateBody({ styles: {} }, labels, instances);
      const status = await new Promise<number>((resolve, reject) => {
        const request = httpRequest(
          {
            host: '127.0.0.1',
            port: edit.port,
            method: 'POST',
            path: '/api/render',
            headers: { Cookie: cookie, Origin: edit.origin, [REQUEST_HEADER]: '1', 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length) },
          },
          (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
          },
        );
        request.on('error', reject);
        request.end(body);
      });
      assert.equal(status, 200);
    } finally {
      edit.child.kill('SIGINT');
      const result = await edit.done;
      assert.equal(result.status, 130, result.stderr);
    }
  });
});
