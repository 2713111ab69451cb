/**
 * Named tensors from another program's weights file, whichever of the two
 * formats it is in: safetensors, or torch.save (.pth, read safely by pth.ts).
 * The format is told by the file's first bytes, not its name.
 */
import { isPthFile, readPth } from '../formats/pth.js';
import type { Tensor } from '../formats/safetensors.js';
import { readSafetensorsFile } from './tensorFile.js';

/** The tensors of `path` whose names pass `keep` (all by default). */
export async function readWeightsFile(path: string, keep: (name: string) => boolean = () => true): Promise<Map<string, Tensor>> {
  if (await isPthFile(path)) return (await readPth(path, { keep })).tensors;
  const file = await readSafetensorsFile(path);
  return new Map([...file.tensors].filter(([name]) => keep(name)));
}
