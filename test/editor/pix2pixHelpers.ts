/**
 * Shared by the pix2pix editor tests: a tiny pix2pix checkpoint (ResNet G,
 * ngf 4, random weights scaled by fan-in, written in the reference's layout
 * with pix2pix metadata) and a 64x48 A image of flat colour rectangles (a
 * facades-like colour label input).
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { writeTensorFile } from '../../src/data/files/tensorFile';
import { makeTensor, type Tensor } from '../../src/data/formats/safetensors';
import { pix2pixCheckpointRecord } from '../../src/families/pix2pix/checkpoint';
import { PIX2PIX_DEFAULTS, type Pix2pixConfig } from '../../src/families/pix2pix/config';
import { pix2pixSpecs } from '../../src/families/pix2pix/networks';
import { Random } from '../../src/model/random';
import { referenceDtype, referenceShape } from '../../src/model/params';

export const P2P_WIDTH = 64;
export const P2P_HEIGHT = 48;

export const TINY_PIX2PIX: Pix2pixConfig = Object.freeze({ ...PIX2PIX_DEFAULTS, netG: 'resnet_6blocks', ngf: 4, ndf: 4, norm: 'instance' });

/** The A image's rectangles: background, then [x0, y0, x1, y1, r, g, b]. */
export const A_BACKGROUND: [number, number, number] = [0, 0, 255];
const RECTS: Array<[number, number, number, number, number, number, number]> = [
  [4, 4, 28, 20, 255, 0, 0],
  [34, 6, 60, 26, 0, 255, 255],
  [8, 28, 56, 44, 255, 255, 0],
];

/** The A image's RGB bytes. */
export function aImage(): Uint8Array {
  const rgb = new Uint8Array(P2P_WIDTH * P2P_HEIGHT * 3);
  for (let p = 0; p < P2P_WIDTH * P2P_HEIGHT; p++) rgb.set(A_BACKGROUND, p * 3);
  for (const [x0, y0, x1, y1, r, g, b] of RECTS) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) rgb.set([r, g, b], (y * P2P_WIDTH + x) * 3);
  return rgb;
}

export async function writePix2pixModel(folder: string, config: Pix2pixConfig = TINY_PIX2PIX): Promise<{ checkpoint: string; image: string }> {
  const random = new Random(5);
  const tensors = new Map<string, Tensor>();
  for (const spec of pix2pixSpecs(config, ['G'])) {
    const shape = referenceShape(spec);
    const count = shape.reduce((a, b) => a * b, 1);
    if (referenceDtype(spec) === 'I64') {
      tensors.set(spec.key, makeTensor('I64', shape, new BigInt64Array(count)));
      continue;
    }
    const values = new Float32Array(count);
    if (shape.length === 4) random.fillNormal(values, 0, 1 / Math.sqrt(shape[1]! * shape[2]! * shape[3]!));
    else if (spec.role === 'normWeight' || spec.role === 'runningVar') values.fill(1);
    tensors.set(spec.key, makeTensor('F32', shape, values));
  }
  const checkpoint = join(folder, 'tiny_pix2pix.safetensors');
  await writeTensorFile(checkpoint, 'checkpoint', tensors, pix2pixCheckpointRecord({ epoch: 0, step: 0, lr: 0.0002, config, direction: 'AtoB' }));
  const image = join(folder, 'facade_A.png');
  await sharp(Buffer.from(aImage()), { raw: { width: P2P_WIDTH, height: P2P_HEIGHT, channels: 3 } }).png().toFile(image);
  return { checkpoint, image };
}
