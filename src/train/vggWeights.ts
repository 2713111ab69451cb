/**
 * The VGG19 weights of the perceptual loss (--vgg-weights): torchvision's
 * own file (vgg19-dcbb9e9d.pth) or any file with its `features.N` names,
 * and what to tell a user who gave none.
 */
import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readWeightsFile } from '../data/files/weightsFile.js';
import { loadVgg19, type Vgg19 } from '../model/losses.js';

/** torchvision's VGG19 file name and download address (torchvision.models.vgg19(weights=...) fetches it). */
export const TORCHVISION_VGG19 = Object.freeze({
  file: 'vgg19-dcbb9e9d.pth',
  url: 'https://download.pytorch.org/models/vgg19-dcbb9e9d.pth',
});

/** Where PyTorch keeps it once downloaded: $TORCH_HOME (default ~/.cache/torch)/hub/checkpoints. */
export function torchHubVgg19Path(env: NodeJS.ProcessEnv = process.env): string {
  const torchHome = env['TORCH_HOME'] ?? join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'torch');
  return join(torchHome, 'hub', 'checkpoints', TORCHVISION_VGG19.file);
}

/** Reads VGG19's convolutions (only `features.*`: the 470 MB classifier is never read). */
export async function readVgg19Weights(path: string): Promise<Vgg19> {
  return loadVgg19(await readWeightsFile(path, (name) => /(^|\.)features\.\d+\.(weight|bias)$/.test(name)), path);
}

/** The log line when the VGG loss is off for want of weights: exactly how to get them. */
export async function vggOffMessage(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const cached = torchHubVgg19Path(env);
  const found = await stat(cached).then((s) => s.isFile(), () => false);
  const how = found
    ? `PyTorch's copy is at ${cached}: add --vgg-weights ${cached}`
    : `get torchvision's VGG19 (548 MB) from ${TORCHVISION_VGG19.url} (PyTorch users may have it in ${cached}) and add --vgg-weights ${TORCHVISION_VGG19.file}`;
  return `VGG loss off: no --vgg-weights given; the reference trains with it on by default. To match it, ${how}`;
}
