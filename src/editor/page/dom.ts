/** The page's element lookup: a missing element is a bug in the HTML table (assets.ts). */
export const byId = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`missing #${id}`);
  return element as T;
};

export function setStatus(text: string): void {
  byId<HTMLElement>('status-text').textContent = text;
}
