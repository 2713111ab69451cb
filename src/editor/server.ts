/**
 * The editor's local HTTP server (node:http, no framework), locked down as a
 * local server must be:
 * - it binds 127.0.0.1 (another address only when the command is told so);
 * - a random 256-bit token per launch, compared in constant time, is traded
 *   on the first visit for an HttpOnly SameSite=Strict session cookie; every
 *   other request needs that cookie;
 * - the Host header must name the bound address and port (DNS rebinding);
 * - state-changing requests (POST) need the page's own Origin and a custom
 *   header, and a bounded octet-stream body;
 * - no CORS headers; a strict Content-Security-Policy on every answer;
 * - no file is served by URL path: assets come from a map built at start,
 *   images by opaque id; save names are checked and resolved inside --out;
 * - the token is never logged.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import sharp from 'sharp';
import { UsageError } from '../errors.js';
import type { Logger } from '../log.js';
import { writeFileAtomically } from '../data/formats/atomicWrite.js';
import { encodePng } from '../data/formats/pngEncode.js';
import { PngColorType } from '../data/formats/png.js';
import type { Asset } from './assets.js';
import { RenderQueue } from './renderQueue.js';
import { downscaleNearest } from './shared/paint.js';
import { downscaleNearestRgb } from './shared/paintRgb.js';
import type { RenderInput, RenderOutput } from './renderThread.js';
import {
  ASSET_PREFIX,
  bytesToBase64,
  decodeRgbBody,
  decodeStateBody,
  IMAGE_PREFIX,
  INSTANCE_FACTOR,
  MAX_INSTANCE_ID,
  MAX_STATE_HEADER_BYTES,
  REQUEST_HEADER,
  REQUEST_HEADER_VALUE,
  rgbBodyLength,
  ROUTES,
  stateBodyLength,
  validSaveName,
  type ClassEntry,
  type RenderReply,
  type SaveReply,
  type SessionInfo,
  type StateHeader,
  type StatusReply,
  type StyleUnit,
} from './shared/protocol.js';

/** A pix2pixHD session's state: label and instance maps, styles. */
export interface LabelState {
  readonly width: number;
  readonly height: number;
  readonly labels: Uint16Array;
  readonly instances: Int32Array;
  readonly styles: ReadonlyMap<number, number>;
}

/** A pix2pix session's state: the A image, [H*W*3] RGB bytes. */
export interface RgbState {
  readonly width: number;
  readonly height: number;
  readonly rgb: Uint8Array;
}

export type EditorState = LabelState | RgbState;

/** What a pix2pix session shows besides its state. */
export interface Pix2pixServerOptions {
  /** The real B image of an A|B input (RGB bytes), shown for comparison. */
  readonly real?: Uint8Array;
  readonly colours: ReadonlyArray<readonly [number, number, number]>;
  /** The test mode, as synthesize's flags name it. */
  readonly mode: string;
}

export interface EditorServerOptions {
  /** Address to bind (127.0.0.1 unless the user asked otherwise). */
  readonly host: string;
  /** 0: a free port. */
  readonly port: number;
  /** --out: saves go here, nowhere else. */
  readonly out: string;
  readonly stem: string;
  readonly labelNc: number;
  readonly classes: readonly ClassEntry[];
  readonly styleUnit: StyleUnit;
  readonly previewScale: number;
  readonly backend: string;
  /** The starting state: label maps, or (pix2pix) an RGB image with `pix2pix` set. */
  readonly initial: EditorState;
  readonly pix2pix?: Pix2pixServerOptions;
  /** Files a save must never overwrite (the inputs). */
  readonly protectedPaths: readonly string[];
  readonly assets: ReadonlyMap<string, Asset>;
  /** One G pass (the inference thread). */
  readonly render: (input: RenderInput) => Promise<RenderOutput>;
  readonly log: Logger;
}

export interface EditorServer {
  /** The URL to open, token included (print it; never log it). */
  readonly url: string;
  readonly port: number;
  /** G passes so far per scale. */
  readonly passes: ReadonlyMap<number, number>;
  close(): Promise<void>;
}

/** A rendered image kept in memory: PNG bytes by opaque id. */
interface StoredImage {
  readonly id: string;
  readonly png: Buffer;
  readonly width: number;
  readonly height: number;
  readonly seconds: number;
}

const MAX_STORED_IMAGES = 128;
/** ...and at most this many bytes of them (large images). */
const MAX_STORED_BYTES = 256 * 1024 * 1024;

const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
});

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Constant-time equality of two secrets of any length (their SHA-256 digests are compared). */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Checks a state against the model: labels below label_nc; an instance id
 * below 1000 equals its pixel's label, a larger one is its label x 1000 + n
 * (and at most 65535); styles name ids of classes with centres and an index
 * below their count. Returns the problem, or undefined.
 */
export function checkState(
  labels: Uint16Array,
  instances: Int32Array,
  styles: ReadonlyMap<number, number>,
  labelNc: number,
  classes: readonly ClassEntry[],
): string | undefined {
  for (let p = 0; p < labels.length; p++) {
    const label = labels[p]!;
    if (label >= labelNc) return `label ${label} at pixel ${p} is not below label_nc ${labelNc}`;
    const instance = instances[p]!;
    if (instance < 0 || instance > MAX_INSTANCE_ID) return `instance id ${instance} at pixel ${p} is outside 0..${MAX_INSTANCE_ID}`;
    if (instance < INSTANCE_FACTOR ? instance !== label : Math.floor(instance / INSTANCE_FACTOR) !== label) {
      return `instance id ${instance} at pixel ${p} does not belong to its label ${label}`;
    }
  }
  for (const [id, index] of styles) {
    const classId = id < INSTANCE_FACTOR ? id : Math.floor(id / INSTANCE_FACTOR);
    const count = classes[classId]?.styles ?? 0;
    if (count === 0) return `style for id ${id}: class ${classId} has no styles`;
    if (index >= count) return `style ${index} for id ${id}: class ${classId} has ${count}`;
  }
  return undefined;
}

/** Parses the styles object of a request header: {"<id>": <index>} with integer ids and indices. */
function stylesOf(header: StateHeader): Map<number, number> {
  const styles = new Map<number, number>();
  const given: unknown = header.styles;
  if (given === null || typeof given !== 'object' || Array.isArray(given)) throw new HttpError(400, 'styles must be an object');
  const entries = Object.entries(given as Record<string, unknown>);
  if (entries.length > 100_000) throw new HttpError(400, 'too many styles');
  for (const [key, value] of entries) {
    if (!/^\d{1,5}$/.test(key) || typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 1_000_000) throw new HttpError(400, `bad style entry ${key.slice(0, 20)}`);
    styles.set(Number(key), value);
  }
  return styles;
}

export async function startEditorServer(options: EditorServerOptions): Promise<EditorServer> {
  const { width, height } = options.initial;
  const pixels = width * height;
  const rgbSession = 'rgb' in options.initial;
  if (rgbSession !== (options.pix2pix !== undefined)) throw new Error('startEditorServer: an RGB state goes with pix2pix options, and only it');
  // Bodies are bounded by the image: 6 bytes a pixel for label maps, 3 x H x W for an RGB image.
  const maxBody = rgbSession ? rgbBodyLength(MAX_STATE_HEADER_BYTES, pixels) : stateBodyLength(MAX_STATE_HEADER_BYTES, pixels);
  const token = randomBytes(32).toString('hex');
  const session = randomBytes(32).toString('hex');
  const images = new Map<string, StoredImage>();
  const queue = new RenderQueue<StoredImage>();
  const passes = new Map<number, number>();
  let lastSeconds = 0;
  const outRoot = resolve(options.out);
  const protectedPaths = new Set(options.protectedPaths.map((path) => realOrResolved(path)));
  let port = 0;
  let cookieName = '';
  let origin = '';
  let hostHeader = '';

  const base64Of = (array: Uint8Array | Uint16Array | Int32Array): string => bytesToBase64(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
  const sessionInfo = (): SessionInfo => {
    const initial = options.initial;
    if ('rgb' in initial) {
      return {
        family: 'pix2pix',
        stem: options.stem,
        width,
        height,
        labelNc: 0,
        classes: [],
        styleUnit: 'none',
        previewScale: options.previewScale,
        backend: options.backend,
        labels: '',
        instances: '',
        styles: {},
        pix2pix: {
          image: base64Of(initial.rgb),
          ...(options.pix2pix?.real ? { real: base64Of(options.pix2pix.real) } : {}),
          colours: options.pix2pix?.colours ?? [],
          mode: options.pix2pix?.mode ?? '',
        },
      };
    }
    return labelSessionInfo(initial);
  };
  const labelSessionInfo = (initial: LabelState): SessionInfo => ({
    family: 'pix2pixhd',
    stem: options.stem,
    width,
    height,
    labelNc: options.labelNc,
    classes: options.classes,
    styleUnit: options.styleUnit,
    previewScale: options.previewScale,
    backend: options.backend,
    labels: base64Of(initial.labels),
    instances: base64Of(initial.instances),
    styles: Object.fromEntries([...initial.styles].map(([id, index]) => [String(id), index])),
  });

  let storedBytes = 0;
  function storeImage(image: StoredImage): void {
    if (images.has(image.id)) images.delete(image.id);
    else storedBytes += image.png.length;
    images.set(image.id, image);
    while (images.size > 1 && (images.size > MAX_STORED_IMAGES || storedBytes > MAX_STORED_BYTES)) {
      const oldest = images.keys().next().value!;
      storedBytes -= images.get(oldest)!.png.length;
      images.delete(oldest);
    }
  }

  /** A render job: the state's maps at `scale` (nearest-neighbour downscale), through the thread, as a PNG. */
  function renderJob(state: EditorState, scale: number): { key: string; run: () => Promise<StoredImage> } {
    const hash = createHash('sha256');
    if ('rgb' in state) {
      hash.update(`rgb|${scale}|`);
      hash.update(state.rgb);
    } else {
      hash.update(`${scale}|${JSON.stringify([...state.styles].sort((a, b) => a[0] - b[0]))}|`);
      hash.update(new Uint8Array(state.labels.buffer, state.labels.byteOffset, state.labels.byteLength));
      hash.update(new Uint8Array(state.instances.buffer, state.instances.byteOffset, state.instances.byteLength));
    }
    const key = hash.digest('hex');
    return {
      key,
      run: async () => {
        const input = scale === 1 ? state : downscaleState(state, scale);
        const output = await options.render(input);
        passes.set(scale, (passes.get(scale) ?? 0) + 1);
        if (scale === 1) lastSeconds = output.seconds;
        const png = await sharp(Buffer.from(output.rgb.buffer, output.rgb.byteOffset, output.rgb.byteLength), {
          raw: { width: input.width, height: input.height, channels: output.channels as 1 | 3 | 4 },
        }).png({ compressionLevel: 1 }).toBuffer();
        const image = { id: randomBytes(16).toString('hex'), png, width: input.width, height: input.height, seconds: output.seconds };
        return image;
      },
    };
  }

  async function readBody(request: IncomingMessage): Promise<Uint8Array> {
    const declared = request.headers['content-length'];
    if (declared === undefined || !/^\d+$/.test(declared)) throw new HttpError(411, 'a Content-Length is required');
    if (Number(declared) > maxBody) throw new HttpError(413, 'body too large for this image');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of request as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBody || size > Number(declared)) throw new HttpError(413, 'body too large for this image');
      chunks.push(chunk);
    }
    const body = Buffer.concat(chunks);
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  }

  async function readState(request: IncomingMessage): Promise<{ header: StateHeader; state: EditorState }> {
    if (rgbSession) {
      const decoded = decodeRgbBody(await readBody(request), pixels);
      if (typeof decoded === 'string') throw new HttpError(400, decoded);
      const header = decoded.header as StateHeader;
      if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new HttpError(400, 'header must be an object');
      return { header, state: { width, height, rgb: decoded.rgb } };
    }
    const decoded = decodeStateBody(await readBody(request), pixels);
    if (typeof decoded === 'string') throw new HttpError(400, decoded);
    const header = decoded.header as StateHeader;
    if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new HttpError(400, 'header must be an object');
    const styles = stylesOf(header);
    const problem = checkState(decoded.labels, decoded.instances, styles, options.labelNc, options.classes);
    if (problem) throw new HttpError(422, problem);
    return { header, state: { width, height, labels: decoded.labels, instances: decoded.instances, styles } };
  }

  async function handleRender(request: IncomingMessage): Promise<RenderReply> {
    const { header, state } = await readState(request);
    const scale = header.scale ?? 1;
    if (scale !== 1 && scale !== options.previewScale) throw new HttpError(400, `scale must be 1 or ${options.previewScale}`);
    const job = renderJob(state, scale);
    const outcome = header.lane === 'thumb' ? await queue.submitThumb(job) : await queue.submit(job);
    if ('superseded' in outcome) return { superseded: true };
    storeImage(outcome.result);
    return { image: outcome.result.id, width: outcome.result.width, height: outcome.result.height, seconds: outcome.cached ? 0 : outcome.result.seconds, cached: outcome.cached };
  }

  async function handleSave(request: IncomingMessage): Promise<SaveReply> {
    const { header, state } = await readState(request);
    const name = header.name;
    if (!validSaveName(name)) throw new HttpError(400, 'save name: letters, digits, ".", "_", "-" only, 1-100 characters, not starting with "." and without ".."');
    const files = 'rgb' in state ? [`${name}_A.png`, `${name}.png`] : [`${name}_gtFine_labelIds.png`, `${name}_gtFine_instanceIds.png`, `${name}_styles.json`, `${name}.png`];
    const paths = files.map((file) => {
      const path = resolve(outRoot, file);
      const inside = relative(outRoot, path);
      if (inside === '' || inside.startsWith('..') || isAbsolute(inside) || inside.includes('/') || inside.includes('\\')) throw new HttpError(400, 'save name leaves the output folder');
      if (protectedPaths.has(realOrResolved(path))) throw new HttpError(409, `${file} is an input of this session; choose another name`);
      return path;
    });
    // The image: the state at full resolution (a cached pass when there is one), never superseded.
    const job = renderJob(state, 1);
    const image = queue.cached(job.key) ?? (await job.run());
    if ('rgb' in state) {
      // The painted A image as an RGB PNG (synthesize --inputs reads it back exactly), then the output.
      await writeFileAtomically(paths[0]!, encodePng({ width, height, bitDepth: 8, colorType: PngColorType.rgb, samples: state.rgb }));
      await writeFileAtomically(paths[1]!, image.png);
      options.log.info(`edit: saved ${files.join(', ')} in ${options.out}`);
      return { files };
    }
    const present = new Set(state.instances);
    const styleIds = options.styleUnit === 'label' ? new Set<number>(state.labels) : present;
    const styles = options.styleUnit === 'none' ? [] : [...state.styles].filter(([id]) => styleIds.has(id)).sort((a, b) => a[0] - b[0]);
    const labelPng = encodePng({ width, height, bitDepth: options.labelNc > 256 ? 16 : 8, colorType: PngColorType.gray, samples: state.labels });
    const instancePng = encodePng({ width, height, bitDepth: 16, colorType: PngColorType.gray, samples: state.instances });
    await writeFileAtomically(paths[0]!, labelPng);
    await writeFileAtomically(paths[1]!, instancePng);
    await writeFileAtomically(paths[2]!, `${JSON.stringify(Object.fromEntries(styles.map(([id, index]) => [String(id), index])), null, 2)}\n`);
    await writeFileAtomically(paths[3]!, image.png);
    options.log.info(`edit: saved ${files.join(', ')} in ${options.out}`);
    return { files };
  }

  function send(response: ServerResponse, status: number, type: string, body: Buffer | string, extra: Record<string, string> = {}): void {
    if (response.headersSent || response.destroyed) return;
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    response.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': String(bytes.length), ...extra });
    response.end(bytes);
  }
  const sendJson = (response: ServerResponse, value: unknown): void => send(response, 200, 'application/json; charset=utf-8', JSON.stringify(value));

  /** Every request: the Host header, a plain path; returns the parsed URL. */
  function checkRequest(request: IncomingMessage): { path: string; url: URL } {
    // DNS rebinding: a page on another name that resolves here sends its own Host.
    if (request.headers.host !== hostHeader) throw new HttpError(421, 'wrong Host');
    const rawUrl = request.url ?? '';
    if (!rawUrl.startsWith('/') || rawUrl.length > 2048) throw new HttpError(400, 'bad URL');
    // The raw path, not a normalised one: dot segments, encodings and empty segments are refused outright.
    const path = rawUrl.split('?', 1)[0]!;
    if (!/^\/[A-Za-z0-9._\/-]*$/.test(path) || path.includes('..') || path.includes('//')) throw new HttpError(400, 'bad URL path');
    return { path, url: new URL(rawUrl, origin) };
  }

  /** The token exchange: GET /?token=... sets the session cookie and sends the browser to / without the token. */
  function exchangeToken(url: URL, response: ServerResponse): void {
    if (!secretsEqual(url.searchParams.get('token') ?? '', token)) throw new HttpError(403, 'wrong token');
    send(response, 303, 'text/plain; charset=utf-8', 'see /', {
      'Set-Cookie': `${cookieName}=${session}; HttpOnly; SameSite=Strict; Path=/`,
      Location: ROUTES.page,
    });
  }

  function handleGet(path: string, url: URL, response: ServerResponse): void {
    if (url.search !== '') throw new HttpError(400, 'no query expected');
    const asset = path === ROUTES.page || path.startsWith(ASSET_PREFIX) ? options.assets.get(path) : undefined;
    if (asset) return send(response, 200, asset.type, asset.body);
    if (path === ROUTES.session) return sendJson(response, sessionInfo());
    if (path === ROUTES.status) return sendJson(response, { passes: Object.fromEntries([...passes].map(([scale, count]) => [String(scale), count])), lastSeconds } satisfies StatusReply);
    if (path.startsWith(IMAGE_PREFIX)) {
      const image = images.get(path.slice(IMAGE_PREFIX.length));
      if (image) return send(response, 200, 'image/png', image.png);
    }
    throw new HttpError(404, 'not found');
  }

  async function handlePost(path: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
    // Cross-site requests: a foreign page cannot send our Origin nor (without CORS) a custom header.
    if (request.headers.origin !== origin) throw new HttpError(403, 'wrong Origin');
    if (request.headers[REQUEST_HEADER] !== REQUEST_HEADER_VALUE) throw new HttpError(403, `missing ${REQUEST_HEADER} header`);
    const fetchSite = request.headers['sec-fetch-site'];
    if (fetchSite !== undefined && fetchSite !== 'same-origin') throw new HttpError(403, 'cross-site request');
    if (request.headers['content-type'] !== 'application/octet-stream') throw new HttpError(415, 'expected application/octet-stream');
    if (path === ROUTES.render) return sendJson(response, await handleRender(request));
    if (path === ROUTES.save) return sendJson(response, await handleSave(request));
    throw new HttpError(404, 'not found');
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { path, url } = checkRequest(request);
    const method = request.method ?? '';
    if (method === 'GET' && path === ROUTES.page && url.searchParams.has('token')) return exchangeToken(url, response);
    const cookie = cookieValue(request.headers.cookie, cookieName);
    if (cookie === undefined || !secretsEqual(cookie, session)) throw new HttpError(403, 'not signed in: open the URL p2phd edit printed');
    if (method === 'GET') return handleGet(path, url, response);
    if (method === 'POST') return handlePost(path, request, response);
    throw new HttpError(405, 'method not allowed');
  }

  const server: Server = createServer((request, response) => {
    // A client that goes away mid-render only loses its answer.
    response.on('error', () => undefined);
    request.on('error', () => undefined);
    handle(request, response).catch((error: unknown) => {
      if (error instanceof HttpError) {
        send(response, error.status, 'text/plain; charset=utf-8', `${error.message}\n`, error.status === 413 ? { Connection: 'close' } : {});
        if (error.status === 413) request.destroy();
        return;
      }
      // A one-line message for a user's error (a full disk on save), a logged bug otherwise.
      const message = error instanceof Error ? error.message : String(error);
      options.log.warn(`edit: ${request.method} ${new URL(request.url ?? '/', 'http://x').pathname}: ${message}`);
      send(response, 500, 'text/plain; charset=utf-8', `${message}\n`);
    });
  });
  server.headersTimeout = 30_000;
  server.requestTimeout = 120_000;
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const reason = error.code === 'EADDRINUSE' ? 'the port is in use' : error.code === 'EACCES' ? 'permission denied' : error.code === 'EADDRNOTAVAIL' ? 'no such address on this machine' : error.message;
      reject(new UsageError(`--bind ${options.host} --port ${options.port}: cannot listen (${reason})`));
    });
    server.listen({ host: options.host, port: options.port }, () => {
      server.removeAllListeners('error');
      resolveListen();
    });
  });
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : options.port;
  const hostForUrl = options.host.includes(':') ? `[${options.host}]` : options.host;
  hostHeader = `${hostForUrl}:${port}`;
  origin = `http://${hostHeader}`;
  cookieName = `p2phd_edit_${port}`;
  return {
    url: `${origin}/?token=${token}`,
    port,
    passes,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.closeAllConnections();
        server.close(() => resolveClose());
      }),
  };
}

function realOrResolved(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/** The state at 1/scale size, nearest neighbour (the pixel at each block's centre). */
function downscaleState(state: EditorState, scale: number): EditorState {
  if ('rgb' in state) return { width: Math.floor(state.width / scale), height: Math.floor(state.height / scale), rgb: downscaleNearestRgb(state.rgb, state.width, state.height, scale) };
  return {
    width: Math.floor(state.width / scale),
    height: Math.floor(state.height / scale),
    labels: downscaleNearest(state.labels, state.width, state.height, scale, (n) => new Uint16Array(n)),
    instances: downscaleNearest(state.instances, state.width, state.height, scale, (n) => new Int32Array(n)),
    styles: state.styles,
  };
}
