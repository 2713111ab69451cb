/**
 * `p2phd edit` on a pix2pix checkpoint, without a browser: the session
 * holds the A image and its colours (most frequent first, counted by hand),
 * RGB bodies are bounded by 3 x H x W, renders are deterministic and cached,
 * a save writes <name>_A.png and <name>.png, and `p2phd synthesize --inputs
 * <name>_A.png` in the same test mode gives the saved pixels (the default
 * --dropout off, and --eval in a second session). Flag misuse is exit 2.
 */
import { strict as assert } from 'node:assert';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeRgbBody, encodeStateBody, MAX_STATE_HEADER_BYTES, REQUEST_HEADER, rgbBodyLength, type RenderReply, type SaveReply, type SessionInfo } from '../../src/editor/shared/protocol';
import sharp from 'sharp';
import { readdirSync } from 'node:fs';
import { readAlignedSample } from '../../src/data/datasets/alignedSample';
import { FIXTURES_DIR, runCli, temporaryFolder } from '../support/cli';
import { readPngPixels } from '../synthesis/helpers';
import { startEdit, type RunningEdit } from './helpers';
import { aImage, A_BACKGROUND, P2P_HEIGHT, P2P_WIDTH, writePix2pixModel } from './pix2pixHelpers';

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

/** A session's client: the cookie traded for the token, POSTs with the page's headers. */
async function client(edit: RunningEdit): Promise<{ get: (path: string) => Promise<Reply>; post: (path: string, body: Uint8Array, headers?: Record<string, string>) => Promise<Reply> }> {
  const token = new URL(edit.url).searchParams.get('token')!;
  const cookie = String((await send(edit, { path: `/?token=${token}` })).headers['set-cookie']).split(';')[0]!;
  return {
    get: (path) => send(edit, { path, headers: { Cookie: cookie } }),
    post: (path, body, headers = {}) =>
      send(edit, {
        method: 'POST',
        path,
        body,
        headers: { Cookie: cookie, Origin: edit.origin, [REQUEST_HEADER]: '1', 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length), ...headers },
      }),
  };
}

/** A with a 7x7 square of magenta at (10..16, 30..36): an edit by hand. */
function editedA(): Uint8Array {
  const rgb = aImage();
  for (let y = 30; y < 37; y++) for (let x = 10; x < 17; x++) rgb.set([255, 0, 255], (y * P2P_WIDTH + x) * 3);
  return rgb;
}

describe('p2phd edit: a pix2pix checkpoint (painting the A image)', () => {
  const folder = temporaryFolder('edit-pix2pix');
  const out = join(folder.path, 'out');
  let model: { checkpoint: string; image: string };
  let edit: RunningEdit;
  let api: Awaited<ReturnType<typeof client>>;

  before(async () => {
    model = await writePix2pixModel(folder.path);
    edit = await startEdit(['--checkpoint', model.checkpoint, '--image', model.image, '--out', out]);
    api = await client(edit);
  });
  after(async () => {
    await edit?.stop();
    folder.remove();
  });

  test('the session holds the A image and its colours, most frequent first', async () => {
    const session = JSON.parse((await api.get('/api/session')).body.toString()) as SessionInfo;
    assert.equal(session.family, 'pix2pix');
    assert.equal(session.width, P2P_WIDTH);
    assert.equal(session.height, P2P_HEIGHT);
    assert.ok(Buffer.from(session.pix2pix!.image, 'base64').equals(Buffer.from(aImage())));
    // Areas: yellow 48x16 = 768, cyan 26x20 = 520, red 24x16 = 384, blue the other 1400 of 3072.
    assert.deepEqual(session.pix2pix!.colours, [A_BACKGROUND, [255, 255, 0], [0, 255, 255], [255, 0, 0]]);
    assert.equal(session.pix2pix!.mode, '--dropout off');
    assert.equal(session.pix2pix!.real, undefined);
  });

  test('bodies are bounded by 3 x H x W (plus the header); a label-map body is refused', async () => {
    const tooLong = rgbBodyLength(MAX_STATE_HEADER_BYTES, P2P_WIDTH * P2P_HEIGHT) + 1;
    const oversized = await api.post('/api/render', new Uint8Array(16), { 'Content-Length': String(tooLong) }).catch(() => ({ status: 413 }) as Reply);
    assert.equal(oversized.status, 413);
    const labels = encodeStateBody({ styles: {}, scale: 1 }, new Uint16Array(P2P_WIDTH * P2P_HEIGHT), new Int32Array(P2P_WIDTH * P2P_HEIGHT));
    assert.equal((await api.post('/api/render', labels)).status, 400);
    const short = encodeRgbBody({ scale: 1 }, new Uint8Array(P2P_WIDTH * P2P_HEIGHT * 3 - 3));
    assert.equal((await api.post('/api/render', short)).status, 400);
    assert.equal((await api.post('/api/render', encodeRgbBody({ scale: 3 }, aImage()))).status, 400, 'only scale 1 or the preview scale');
  });

  test('renders are deterministic per state and cached; an edit changes the image', async () => {
    const render = async (rgb: Uint8Array): Promise<{ reply: RenderReply; png: Buffer }> => {
      const reply = JSON.parse((await api.post('/api/render', encodeRgbBody({ scale: 1, lane: 'main' }, rgb))).body.toString()) as RenderReply;
      assert.ok(reply.image, JSON.stringify(reply));
      return { reply, png: (await api.get(`/api/images/${reply.image}`)).body };
    };
    const first = await render(aImage());
    assert.equal(first.reply.width, P2P_WIDTH);
    const again = await render(aImage());
    assert.equal(again.reply.cached, true);
    assert.ok(again.png.equals(first.png));
    const edited = await render(editedA());
    assert.equal(edited.reply.cached, false);
    assert.ok(!edited.png.equals(first.png), 'the edit changes the output');
  });

  test('save writes <name>_A.png and <name>.png; synthesize --inputs <name>_A.png --dropout off gives the same pixels', async () => {
    assert.equal((await api.post('/api/save', encodeRgbBody({ name: '../escape' }, editedA()))).status, 400);
    const reply = await api.post('/api/save', encodeRgbBody({ name: 'painted' }, editedA()));
    assert.equal(reply.status, 200, reply.body.toString());
    assert.deepEqual((JSON.parse(reply.body.toString()) as SaveReply).files, ['painted_A.png', 'painted.png']);
    const savedA = await readPngPixels(join(out, 'painted_A.png'));
    assert.equal(savedA.channels, 3);
    assert.ok(Buffer.from(savedA.data).equals(Buffer.from(editedA())), 'the painted A is saved exactly');
    const again = join(folder.path, 'again');
    const result = await runCli(['synthesize', '--checkpoint', model.checkpoint, '--inputs', join(out, 'painted_A.png'), '--dropout', 'off', '--out', again], { env: { P2PHD_WASM_THREADS: '1' } });
    assert.equal(result.status, 0, result.stderr);
    const resynthesized = await readPngPixels(join(again, 'painted_A.png'));
    const saved = await readPngPixels(join(out, 'painted.png'));
    assert.equal(saved.width, P2P_WIDTH);
    assert.ok(Buffer.from(resynthesized.data).equals(Buffer.from(saved.data)), 'synthesize gives the pixels the editor saved');
  });

  test('an A|B file with --aligned: A is painted, B is the real image; --data takes a preprocess --aligned sample', async () => {
    // A|B: A = aImage() on the left, B = its colours inverted on the right.
    const b = aImage().map((v) => 255 - v);
    const ab = new Uint8Array(P2P_WIDTH * 2 * P2P_HEIGHT * 3);
    for (let y = 0; y < P2P_HEIGHT; y++) {
      ab.set(aImage().subarray(y * P2P_WIDTH * 3, (y + 1) * P2P_WIDTH * 3), y * P2P_WIDTH * 6);
      ab.set(b.subarray(y * P2P_WIDTH * 3, (y + 1) * P2P_WIDTH * 3), y * P2P_WIDTH * 6 + P2P_WIDTH * 3);
    }
    const abPath = join(folder.path, 'pair.png');
    await sharp(Buffer.from(ab), { raw: { width: P2P_WIDTH * 2, height: P2P_HEIGHT, channels: 3 } }).png().toFile(abPath);
    const sessionOf = async (args: string[]): Promise<SessionInfo> => {
      const running = await startEdit(['--checkpoint', model.checkpoint, ...args, '--out', join(folder.path, 'other')]);
      try {
        return JSON.parse((await (await client(running)).get('/api/session')).body.toString()) as SessionInfo;
      } finally {
        await running.stop();
      }
    };
    const paired = await sessionOf(['--image', abPath, '--aligned']);
    assert.equal(paired.width, P2P_WIDTH);
    assert.equal(paired.stem, 'pair');
    assert.ok(Buffer.from(paired.pix2pix!.image, 'base64').equals(Buffer.from(aImage())));
    assert.ok(Buffer.from(paired.pix2pix!.real!, 'base64').equals(Buffer.from(b)));
    const flipped = await sessionOf(['--image', abPath, '--aligned', '--direction', 'BtoA']);
    assert.ok(Buffer.from(flipped.pix2pix!.image, 'base64').equals(Buffer.from(b)));

    const samples = join(folder.path, 'samples');
    const prep = await runCli(['preprocess', '--aligned', '--dataroot', join(FIXTURES_DIR, 'pix2pix'), '--phase', 'train', '--load-size', '36', '--crop-size', '32', '--out', samples]);
    assert.equal(prep.status, 0, prep.stderr);
    const first = join(samples, readdirSync(samples).filter((name) => name.endsWith('.safetensors')).sort()[0]!);
    const sample = await readAlignedSample(first);
    const fromData = await sessionOf(['--data', samples]);
    assert.equal(fromData.width, sample.width);
    assert.equal(fromData.height, sample.height);
    assert.equal(sample.aChannels, 3);
    assert.ok(Buffer.from(fromData.pix2pix!.image, 'base64').equals(Buffer.from(sample.a)));
    assert.ok(Buffer.from(fromData.pix2pix!.real!, 'base64').equals(Buffer.from(sample.b)));
  });

  test('--backend onnxruntime: the ONNX graph renders as synthesize --backend onnxruntime; --dropout on is refused there', async (t) => {
    const onnxOut = join(folder.path, 'onnx-out');
    let onnxEdit: RunningEdit;
    try {
      onnxEdit = await startEdit(['--backend', 'onnxruntime', '--checkpoint', model.checkpoint, '--image', model.image, '--out', onnxOut]);
    } catch (error) {
      if (/onnxruntime/i.test(String(error)) && /not (installed|available)|cannot load/i.test(String(error))) return t.skip('skipped: ONNX Runtime is not installed');
      throw error;
    }
    try {
      assert.equal(((JSON.parse((await (await client(onnxEdit)).get('/api/session')).body.toString())) as SessionInfo).backend, 'onnxruntime');
      assert.equal((await (await client(onnxEdit)).post('/api/save', encodeRgbBody({ name: 'o' }, editedA()))).status, 200);
    } finally {
      await onnxEdit.stop();
    }
    const again = join(folder.path, 'onnx-again');
    const result = await runCli(['synthesize', '--backend', 'onnxruntime', '--checkpoint', model.checkpoint, '--inputs', join(onnxOut, 'o_A.png'), '--dropout', 'off', '--out', again]);
    assert.equal(result.status, 0, result.stderr);
    assert.ok(Buffer.from((await readPngPixels(join(again, 'o_A.png'))).data).equals(Buffer.from((await readPngPixels(join(onnxOut, 'o.png'))).data)));
    const refused = await runCli(['edit', '--no-open', '--backend', 'onnxruntime', '--dropout', 'on', '--checkpoint', model.checkpoint, '--image', model.image, '--out', join(folder.path, 'bad')]);
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /--dropout on draws dropout masks/);
  });

  test('--eval and --dropout on (seeded) render as synthesize does with the same flags; flag misuse is a usage error', async () => {
    for (const [name, flags] of [['e', ['--eval']], ['r', ['--dropout', 'on']]] as const) {
      const modeOut = join(folder.path, `${name}-out`);
      const modeEdit = await startEdit(['--checkpoint', model.checkpoint, '--image', model.image, ...flags, '--out', modeOut]);
      try {
        assert.equal((await (await client(modeEdit)).post('/api/save', encodeRgbBody({ name }, editedA()))).status, 200);
      } finally {
        await modeEdit.stop();
      }
      const again = join(folder.path, `${name}-again`);
      // startEdit runs with --seed 3: the dropout masks of --dropout on come from it.
      const result = await runCli(['synthesize', '--seed', '3', '--checkpoint', model.checkpoint, '--inputs', join(modeOut, `${name}_A.png`), ...flags, '--out', again], { env: { P2PHD_WASM_THREADS: '1' } });
      assert.equal(result.status, 0, result.stderr);
      assert.ok(Buffer.from((await readPngPixels(join(again, `${name}_A.png`))).data).equals(Buffer.from((await readPngPixels(join(modeOut, `${name}.png`))).data)), flags.join(' '));
    }
    for (const args of [
      ['--image', model.image, '--eval', '--dropout', 'on'],
      ['--image', model.image, '--labels', model.image],
      ['--labels', model.image],
      ['--image', model.image, '--direction', 'BtoA'],
    ]) {
      const bad = await runCli(['edit', '--no-open', '--checkpoint', model.checkpoint, ...args, '--out', join(folder.path, 'bad')]);
      assert.equal(bad.status, 2, `${args.join(' ')}: ${bad.stderr}`);
      // One error line (the backend's info line may precede it).
      assert.equal(bad.stderr.trim().split('\n').filter((line) => line.startsWith('p2phd:')).length, 1, bad.stderr);
      assert.ok(!/\n\s+at /.test(bad.stderr), 'no stack trace');
    }
  });
});
