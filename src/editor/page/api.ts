/** The page's requests to its server: same origin, the session cookie, the custom header on every POST. */
import {
  encodeRgbBody,
  encodeStateBody,
  IMAGE_PREFIX,
  REQUEST_HEADER,
  REQUEST_HEADER_VALUE,
  ROUTES,
  type RenderReply,
  type SaveReply,
  type SessionInfo,
  type StateHeader,
  type StatusReply,
} from '../shared/protocol.js';

async function failed(response: Response): Promise<Error> {
  const text = (await response.text()).trim();
  return new Error(`${response.status}: ${text || response.statusText}`);
}

export async function getSession(): Promise<SessionInfo> {
  const response = await fetch(ROUTES.session, { credentials: 'same-origin' });
  if (!response.ok) throw await failed(response);
  return (await response.json()) as SessionInfo;
}

export async function getStatus(): Promise<StatusReply> {
  const response = await fetch(ROUTES.status, { credentials: 'same-origin' });
  if (!response.ok) throw await failed(response);
  return (await response.json()) as StatusReply;
}

async function postBody<Reply>(route: string, body: Uint8Array<ArrayBuffer>): Promise<Reply> {
  const response = await fetch(route, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/octet-stream', [REQUEST_HEADER]: REQUEST_HEADER_VALUE },
    body,
  });
  if (!response.ok) throw await failed(response);
  return (await response.json()) as Reply;
}

const postState = <Reply>(route: string, header: StateHeader, labels: Uint16Array, instances: Int32Array): Promise<Reply> => postBody<Reply>(route, encodeStateBody(header, labels, instances));

/** pix2pix sessions: the state is the A image's RGB bytes. */
export const postRenderRgb = (header: StateHeader, rgb: Uint8Array): Promise<RenderReply> => postBody<RenderReply>(ROUTES.render, encodeRgbBody(header, rgb));
export const postSaveRgb = (header: StateHeader, rgb: Uint8Array): Promise<SaveReply> => postBody<SaveReply>(ROUTES.save, encodeRgbBody(header, rgb));

export const postRender = (header: StateHeader, labels: Uint16Array, instances: Int32Array): Promise<RenderReply> => postState<RenderReply>(ROUTES.render, header, labels, instances);
export const postSave = (header: StateHeader, labels: Uint16Array, instances: Int32Array): Promise<SaveReply> => postState<SaveReply>(ROUTES.save, header, labels, instances);

/** A rendered image by its opaque id, decoded. */
export async function fetchImage(id: string): Promise<ImageBitmap> {
  const response = await fetch(`${IMAGE_PREFIX}${id}`, { credentials: 'same-origin' });
  if (!response.ok) throw await failed(response);
  return createImageBitmap(await response.blob());
}
