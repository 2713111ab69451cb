/**
 * The editor's page: asks the server for the session and starts the editor
 * its model needs: label maps (pix2pixHD, labelEditor.ts) or the RGB A
 * image (pix2pix, pix2pixEditor.ts).
 */
import { getSession } from './api.js';
import { startLabelEditor } from './labelEditor.js';
import { startPix2pixEditor } from './pix2pixEditor.js';

async function start(): Promise<void> {
  const session = await getSession();
  document.body.classList.add(`family-${session.family}`);
  if (session.family === 'pix2pix') await startPix2pixEditor(session);
  else startLabelEditor(session);
  document.body.dataset['ready'] = 'true';
}

start().catch((error: unknown) => {
  const status = document.getElementById('status-text');
  if (status) status.textContent = `could not start: ${(error as Error).message}`;
  console.error(error);
});
