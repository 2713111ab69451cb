/**
 * What the editor's page and server say to each other: routes, the custom
 * header, the session description and the binary state body. Compiled
 * twice: into the server (Node) and into the page (DOM); it imports
 * nothing and uses only what both have (TextEncoder, DataView).
 */

/** Routes; every other path is 404. Assets live under ASSET_PREFIX, images under IMAGE_PREFIX + opaque id. */
export const ROUTES = Object.freeze({
  page: '/',
  session: '/api/session',
  render: '/api/render',
  save: '/api/save',
  status: '/api/status',
} as const);
export const ASSET_PREFIX = '/assets/';
export const IMAGE_PREFIX = '/api/images/';

/** The custom header every state-changing request carries (a cross-site form or image cannot send one). */
export const REQUEST_HEADER = 'x-p2phd-editor';
export const REQUEST_HEADER_VALUE = '1';

/** Instance ids of things: class x INSTANCE_FACTOR + n (Cityscapes' numbering); below it an id is its class. */
export const INSTANCE_FACTOR = 1000;
/** Largest id an instance map may hold (16-bit PNG). */
export const MAX_INSTANCE_ID = 65535;

export interface ClassEntry {
  readonly id: number;
  readonly name: string;
  /** [r, g, b] */
  readonly colour: readonly [number, number, number];
  /** Objects of the class have their own ids (class x 1000 + n). */
  readonly thing: boolean;
  /** Cluster centres (styles) of the class; 0 when it has none. */
  readonly styles: number;
}

/** How styles attach: per instance id, per label id (label_feat), or not at all (no instance features). */
export type StyleUnit = 'instance' | 'label' | 'none';

/** Which kind of model the session edits: label + instance maps (pix2pixhd) or the RGB A image (pix2pix). */
export type EditorFamily = 'pix2pixhd' | 'pix2pix';

/** A pix2pix session's extra parts. */
export interface Pix2pixSession {
  /** The A image being painted: base64 of [H*W*3] RGB bytes. */
  readonly image: string;
  /** The real B image (an A|B input), base64 RGB, for the before/after view. */
  readonly real?: string;
  /** The A image's distinct colours, most frequent first (capped). */
  readonly colours: ReadonlyArray<readonly [number, number, number]>;
  /** The test mode renders use (synthesize's flags for it). */
  readonly mode: string;
}

export interface SessionInfo {
  readonly family: EditorFamily;
  readonly stem: string;
  readonly width: number;
  readonly height: number;
  readonly labelNc: number;
  readonly classes: readonly ClassEntry[];
  readonly styleUnit: StyleUnit;
  /** The scale factor of preview renders (1 = none). */
  readonly previewScale: number;
  /** The inference backend, for the status line. */
  readonly backend: string;
  /** The loaded maps: base64 of little-endian Uint16 labels and Int32 instance ids. */
  readonly labels: string;
  readonly instances: string;
  /** The starting styles: id -> cluster index, complete. */
  readonly styles: Readonly<Record<string, number>>;
  /** pix2pix sessions only (labels and instances are then empty). */
  readonly pix2pix?: Pix2pixSession;
}

/** The JSON part of a render or save request body. */
export interface StateHeader {
  /** Styles: id -> cluster index (label-map sessions). */
  readonly styles?: Readonly<Record<string, number>>;
  /** Render: 1 = full resolution, previewScale = a preview. */
  readonly scale?: number;
  /** Render: 'main' (newest wins) or 'thumb' (style gallery, runs when main is idle). */
  readonly lane?: 'main' | 'thumb';
  /** Save: the file stem. */
  readonly name?: string;
}

export interface RenderReply {
  /** Opaque id of the PNG under IMAGE_PREFIX; absent when the request was superseded by a newer one. */
  readonly image?: string;
  readonly superseded?: boolean;
  readonly width?: number;
  readonly height?: number;
  /** Seconds the pass took (0 when cached). */
  readonly seconds?: number;
  readonly cached?: boolean;
}

export interface SaveReply {
  /** File names written inside --out. */
  readonly files: readonly string[];
}

export interface StatusReply {
  /** G passes run so far, per scale ("1" = full resolution). */
  readonly passes: Readonly<Record<string, number>>;
  /** Last full-resolution pass, seconds. */
  readonly lastSeconds: number;
}

/** Save names: a file stem of letters, digits, '.', '_', '-' (not starting with '.'), at most this long. */
export const MAX_SAVE_NAME = 100;
export function validSaveName(name: unknown): name is string {
  return typeof name === 'string' && name.length >= 1 && name.length <= MAX_SAVE_NAME && /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(name) && !name.includes('..');
}

/** Largest JSON header of a state body. */
export const MAX_STATE_HEADER_BYTES = 1 << 20;

/**
 * A state body: [u32 LE header length][header JSON, zero-padded to a
 * multiple of 4][Int32 LE instance ids, H*W][Uint16 LE labels, H*W].
 */
export function encodeStateBody(header: StateHeader, labels: Uint16Array, instances: Int32Array): Uint8Array<ArrayBuffer> {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = (json.length + 3) & ~3;
  const pixels = labels.length;
  const out = new Uint8Array(4 + padded + pixels * 4 + pixels * 2);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length, true);
  out.set(json, 4);
  let offset = 4 + padded;
  for (let p = 0; p < pixels; p++, offset += 4) view.setInt32(offset, instances[p]!, true);
  for (let p = 0; p < pixels; p++, offset += 2) view.setUint16(offset, labels[p]!, true);
  return out;
}

/** The exact byte length of a state body for `pixels` pixels and a header of `headerBytes` bytes. */
export function stateBodyLength(headerBytes: number, pixels: number): number {
  return 4 + ((headerBytes + 3) & ~3) + pixels * 6;
}

/** Decodes a state body; a string names what is wrong. */
export function decodeStateBody(body: Uint8Array, pixels: number): { header: unknown; labels: Uint16Array; instances: Int32Array } | string {
  if (body.length < 4) return 'body too short';
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const headerBytes = view.getUint32(0, true);
  if (headerBytes > MAX_STATE_HEADER_BYTES) return 'header too long';
  if (body.length !== stateBodyLength(headerBytes, pixels)) return `body has ${body.length} bytes, expected ${stateBodyLength(headerBytes, pixels)} for ${pixels} pixels`;
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body.subarray(4, 4 + headerBytes)));
  } catch {
    return 'header is not JSON';
  }
  let offset = 4 + ((headerBytes + 3) & ~3);
  const instances = new Int32Array(pixels);
  for (let p = 0; p < pixels; p++, offset += 4) instances[p] = view.getInt32(offset, true);
  const labels = new Uint16Array(pixels);
  for (let p = 0; p < pixels; p++, offset += 2) labels[p] = view.getUint16(offset, true);
  return { header, labels, instances };
}

/**
 * An RGB state body (pix2pix sessions): [u32 LE header length][header JSON,
 * zero-padded to a multiple of 4][RGB bytes, H*W*3].
 */
export function encodeRgbBody(header: StateHeader, rgb: Uint8Array): Uint8Array<ArrayBuffer> {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = (json.length + 3) & ~3;
  const out = new Uint8Array(4 + padded + rgb.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 4);
  out.set(rgb, 4 + padded);
  return out;
}

/** The exact byte length of an RGB body: bounded by 3 x H x W plus the header. */
export function rgbBodyLength(headerBytes: number, pixels: number): number {
  return 4 + ((headerBytes + 3) & ~3) + pixels * 3;
}

/** Decodes an RGB body; a string names what is wrong. */
export function decodeRgbBody(body: Uint8Array, pixels: number): { header: unknown; rgb: Uint8Array } | string {
  if (body.length < 4) return 'body too short';
  const headerBytes = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(0, true);
  if (headerBytes > MAX_STATE_HEADER_BYTES) return 'header too long';
  if (body.length !== rgbBodyLength(headerBytes, pixels)) return `body has ${body.length} bytes, expected ${rgbBodyLength(headerBytes, pixels)} for ${pixels} RGB pixels`;
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body.subarray(4, 4 + headerBytes)));
  } catch {
    return 'header is not JSON';
  }
  return { header, rgb: body.slice(4 + ((headerBytes + 3) & ~3)) };
}

/** Little-endian bytes <-> base64 of typed arrays (the session's maps). */
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}
export function base64ToBytes(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
