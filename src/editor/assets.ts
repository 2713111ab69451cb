/**
 * The page's files, read once at server start into a fixed map from URL
 * path to bytes: the compiled page modules (tsconfig.page.json's output,
 * dist/page) and the HTML and CSS below. The server answers only paths in
 * this map; no request path ever reaches the file system.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ASSET_PREFIX, ROUTES } from './shared/protocol.js';

export interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

/** Where tsconfig.page.json writes the page: dist/page (this file runs from dist/src/editor). */
export const PAGE_BUILD_DIR = resolve(__dirname, '..', '..', 'page');

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>p2phd edit</title>
<link rel="icon" href="${ASSET_PREFIX}icon.svg">
<link rel="stylesheet" href="${ASSET_PREFIX}editor.css">
<script type="module" src="${ASSET_PREFIX}page/main.js"></script>
</head>
<body>
<header id="toolbar">
  <strong>p2phd edit</strong>
  <span class="group" id="tools"></span>
  <span class="group" id="eraser-group"><label>eraser paints <select id="eraser-class"></select></label></span>
  <span class="group">
    <label>size <input id="size" type="range" min="1" max="64" value="9"></label><output id="size-value">9</output>
    <select id="shape"><option value="round">round</option><option value="square">square</option></select>
  </span>
  <span class="group">
    <button id="undo" title="Ctrl+Z">undo</button><button id="redo" title="Ctrl+Shift+Z / Ctrl+Y">redo</button>
  </span>
  <span class="group">
    <select id="view"><option value="side">side by side</option><option value="overlay">overlay</option><option value="result">result only</option></select>
    <label>opacity <input id="opacity" type="range" min="0" max="100" value="50"></label>
    <button id="before" title="hold B">before</button>
    <button id="zoom-out">-</button><output id="zoom-value">1x</output><button id="zoom-in">+</button><button id="zoom-fit">fit</button>
  </span>
  <span class="group">
    <button id="random-styles">random styles</button>
    <input id="save-name" size="16" aria-label="save name"><button id="save">save</button>
  </span>
</header>
<main>
  <aside id="palette" aria-label="classes"></aside>
  <section id="views">
    <div class="view" id="label-view"><canvas id="label-canvas"></canvas><canvas id="select-canvas"></canvas></div>
    <div class="view" id="result-view"><canvas id="result-canvas"></canvas><canvas id="overlay-canvas"></canvas><div id="badge"></div></div>
  </section>
  <aside id="inspector">
    <h2>Object</h2>
    <div id="object-info">Select tool: click an object.</div>
    <div id="object-actions"></div>
    <h2>Styles</h2>
    <div id="gallery"></div>
  </aside>
</main>
<footer id="status"><span id="status-text">loading</span><progress id="progress" max="1" value="0"></progress></footer>
</body>
</html>
`;

const ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 4 4"><rect width="2" height="4" fill="#804080"/><rect x="2" width="2" height="4" fill="#4682b4"/></svg>';

const CSS = `
* { box-sizing: border-box; }
body { margin: 0; font: 13px system-ui, sans-serif; background: #1e1f22; color: #ddd; display: flex; flex-direction: column; height: 100vh; }
#toolbar { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; padding: 6px 10px; background: #2b2d31; border-bottom: 1px solid #111; }
.group { display: inline-flex; gap: 4px; align-items: center; padding-left: 8px; border-left: 1px solid #444; }
button, select, input { font: inherit; color: #ddd; background: #3a3c42; border: 1px solid #555; border-radius: 3px; padding: 2px 6px; }
button.active { background: #5865f2; border-color: #8891f2; color: #fff; }
button:disabled { opacity: 0.4; }
main { flex: 1; display: flex; min-height: 0; }
#palette { width: 180px; overflow-y: auto; background: #25262a; padding: 4px; }
.class { display: flex; align-items: center; gap: 6px; width: 100%; text-align: left; margin: 1px 0; padding: 2px 4px; background: transparent; border: 1px solid transparent; }
.class.active { border-color: #fff; background: #3a3c42; }
.class .swatch { width: 14px; height: 14px; border: 1px solid #000; flex: none; }
.class .thing { margin-left: auto; font-size: 10px; color: #aaa; }
#views { flex: 1; display: flex; gap: 8px; padding: 8px; overflow: hidden; min-width: 0; }
.view { position: relative; flex: 1; overflow: hidden; background: #111; border: 1px solid #333; }
.view canvas { position: absolute; left: 0; top: 0; transform-origin: 0 0; image-rendering: pixelated; }
#select-canvas, #overlay-canvas { pointer-events: none; }
body.view-overlay #label-view, body.view-result #label-view { display: none; }
body.view-side #overlay-canvas, body.view-result #overlay-canvas { display: none; }
#label-view { cursor: crosshair; }
#result-view.paintable { cursor: crosshair; }
#badge { position: absolute; right: 6px; top: 6px; padding: 2px 6px; background: rgba(0,0,0,0.65); border-radius: 3px; font-size: 12px; }
#badge:empty { display: none; }
#inspector { width: 220px; overflow-y: auto; background: #25262a; padding: 6px 8px; }
#inspector h2 { font-size: 13px; margin: 8px 0 4px; color: #aaa; text-transform: uppercase; }
#gallery { display: grid; grid-template-columns: repeat(2, 1fr); gap: 4px; }
#gallery button { padding: 0; background: #111; border: 2px solid transparent; }
#gallery button.active { border-color: #5865f2; }
#gallery img, #gallery canvas { width: 100%; display: block; image-rendering: pixelated; }
#gallery .caption { font-size: 11px; padding: 1px; }
#status { display: flex; gap: 10px; align-items: center; padding: 3px 10px; background: #2b2d31; border-top: 1px solid #111; }
#status-text { flex: 1; }
#progress { width: 160px; visibility: hidden; }
#progress.running { visibility: visible; }
body.family-pix2pix #inspector, body.family-pix2pix #eraser-group, body.family-pix2pix #random-styles { display: none; }
.colours { display: grid; grid-template-columns: repeat(4, 1fr); gap: 3px; margin-top: 6px; }
.colour { height: 22px; padding: 0; border: 2px solid #000; }
.colour.active { border-color: #fff; outline: 1px solid #5865f2; }
#colour-picker { width: 100%; height: 28px; padding: 0; }
#colour-value { display: block; font-family: monospace; margin: 4px 0; }
`;

/** The asset map: '/' (the page), the stylesheet, and every compiled module under dist/page. */
export function loadAssets(buildDir: string = PAGE_BUILD_DIR): ReadonlyMap<string, Asset> {
  const assets = new Map<string, Asset>();
  assets.set(ROUTES.page, { type: 'text/html; charset=utf-8', body: Buffer.from(HTML, 'utf8') });
  assets.set(`${ASSET_PREFIX}icon.svg`, { type: 'image/svg+xml', body: Buffer.from(ICON, 'utf8') });
  assets.set(`${ASSET_PREFIX}editor.css`, { type: 'text/css; charset=utf-8', body: Buffer.from(CSS, 'utf8') });
  for (const folder of ['page', 'shared']) {
    let names: string[];
    try {
      names = readdirSync(join(buildDir, folder));
    } catch {
      throw new Error(`the editor's page is not built (${join(buildDir, folder)} is missing): run npm run build`);
    }
    for (const name of names) {
      if (!/^[A-Za-z0-9_-]+\.js$/.test(name)) continue;
      assets.set(`${ASSET_PREFIX}${folder}/${name}`, { type: 'text/javascript; charset=utf-8', body: readFileSync(join(buildDir, folder, name)) });
    }
  }
  if (!assets.has(`${ASSET_PREFIX}page/main.js`)) throw new Error(`the editor's page is not built (no main.js in ${buildDir}/page): run npm run build`);
  return assets;
}
