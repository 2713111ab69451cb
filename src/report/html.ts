/**
 * The pieces every report page shares: escaping, links relative to the
 * page, and the page shell with its inline style sheet. Pages are static
 * files that open from the file system: no script, no server, nothing
 * fetched from the network.
 */
import { relative, sep } from 'node:path';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!);
}

/** A link from a page in `pageDir` to `target`, relative and percent-encoded per path segment. */
export function hrefFrom(pageDir: string, target: string): string {
  return relative(pageDir, target).split(sep).map(encodeURIComponent).join('/');
}

/** A thumbnail that opens the full image. */
export function thumbnail(href: string, caption: string, className = 'thumb'): string {
  const text = escapeHtml(caption);
  return `<figure class="${className}"><a href="${escapeHtml(href)}"><img src="${escapeHtml(href)}" alt="${text}" loading="lazy"></a><figcaption>${text}</figcaption></figure>`;
}

/** A two-column table of name -> value. */
export function keyValueTable(entries: ReadonlyArray<readonly [string, string]>): string {
  const rows = entries.map(([key, value]) => `<tr><th>${escapeHtml(key)}</th><td>${escapeHtml(value)}</td></tr>`).join('');
  return `<table class="kv">${rows}</table>`;
}

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #1b1f24; background: #fafafa; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; border-bottom: 1px solid #ddd; }
.status { font-size: 15px; margin: 4px 0 12px; } .status b { font-weight: 600; } .muted { color: #666; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 8px; }
.plot { background: #fff; border: 1px solid #e3e3e3; border-radius: 4px; padding: 4px; }
.plot svg { display: block; max-width: 100%; height: auto; }
figure { margin: 0; } figcaption { font-size: 12px; color: #555; }
.latest img { max-width: 100%; width: 900px; image-rendering: pixelated; border: 1px solid #ccc; }
.history { display: flex; flex-wrap: wrap; gap: 8px; } .history img { height: 80px; image-rendering: pixelated; border: 1px solid #ccc; }
.thumb img { max-height: 160px; max-width: 320px; border: 1px solid #ccc; display: block; }
table { border-collapse: collapse; } td, th { padding: 3px 8px; text-align: left; vertical-align: top; }
table.kv th { font-weight: 500; color: #444; } table.grid th { max-width: 16em; overflow-wrap: break-word; } table.grid td, table.grid th { border-bottom: 1px solid #e3e3e3; }
.wide { overflow-x: auto; } table.results td { min-width: 64px; } table.results.many .thumb img { max-height: 96px; }
code { background: #eee; padding: 0 3px; border-radius: 3px; }
`;

export function pageShell(options: { title: string; body: string; refreshSeconds?: number; data?: unknown }): string {
  const refresh = options.refreshSeconds !== undefined ? `<meta http-equiv="refresh" content="${options.refreshSeconds}">\n` : '';
  // JSON inside a script element: '<' escaped so no "</script>" can end it early.
  const data = options.data !== undefined
    ? `\n<script type="application/json" id="${DATA_ELEMENT_ID}">${JSON.stringify(options.data).replace(/</g, '\\u003c')}</script>`
    : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
${refresh}<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(options.title)}</title>
<style>${STYLE}</style>
</head>
<body>
${options.body}${data}
</body>
</html>
`;
}

/** The id of the script element holding a page's data (the results pages' rows, read back to merge them). */
export const DATA_ELEMENT_ID = 'p2phd-data';

/** The data a page embedded with pageShell, or undefined. */
export function embeddedData(html: string): unknown {
  const match = new RegExp(`<script type="application/json" id="${DATA_ELEMENT_ID}">([\\s\\S]*?)</script>`).exec(html);
  if (!match) return undefined;
  try {
    return JSON.parse(match[1]!) as unknown;
  } catch {
    return undefined;
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return 'unknown';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 48 * 3600) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

export function formatTime(date: Date): string {
  return `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
