/**
 * Generates the bundled fixtures: small synthetic street scenes in the
 * Cityscapes layout and id conventions, deterministically (own seeded PRNG),
 * so `git diff fixtures/` after a regeneration shows nothing.
 *
 *   <phase>_label/  8-bit gray PNG class ids (Cityscapes labelIds)
 *   <phase>_inst/   16-bit gray PNG instance ids: stuff = class id,
 *                   things = class * 1000 + k (k from 0 per class and image)
 *   <phase>_img/    JPEG photos rendered from the maps
 *
 * Scenes: sky on top, buildings and trees in the middle, sidewalk and road
 * below, cars on the road and persons on the sidewalk, some touching others
 * of their class. The demo trains on these for minutes, so classes are large,
 * colours distinct and textures mild; each car and person gets its own colour
 * so the instance-feature encoder has a style to learn.
 *
 * Usage: node dist/scripts/make-fixtures.js OUT_DIR [--train N] [--test N]
 *          [--width W --height H] [--png-photos]
 * The defaults make the committed fixtures; `--width 2048 --height 1024
 * --png-photos` makes Cityscapes-sized triples for the preprocess benchmark.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { encodePng } from '../src/data/formats/pngEncode.js';
import { PngColorType } from '../src/data/formats/png.js';
import { createRandom } from './random.js';

export const FIXTURE_WIDTH = 256;
export const FIXTURE_HEIGHT = 128;
export const FIXTURE_SEED = 20180618;

/** Cityscapes labelIds used by the scenes. */
export const CityscapesClass = Object.freeze({
  road: 7,
  sidewalk: 8,
  building: 11,
  pole: 17,
  vegetation: 21,
  sky: 23,
  person: 24,
  car: 26,
} as const);

type Rgb = [number, number, number];

/** A scene under construction: class ids, instance ids and the photo, painted together. */
class Scene {
  readonly label: Uint8Array;
  readonly inst: Uint16Array;
  readonly photo: Uint8Array;
  private readonly thingCount = new Map<number, number>();

  constructor(readonly width: number, readonly height: number, private readonly random: () => number) {
    this.label = new Uint8Array(width * height);
    this.inst = new Uint16Array(width * height);
    this.photo = new Uint8Array(width * height * 3);
  }

  /** The next instance id of a thing class: class * 1000 + k. */
  nextInstance(classId: number): number {
    const k = this.thingCount.get(classId) ?? 0;
    this.thingCount.set(classId, k + 1);
    return classId * 1000 + k;
  }

  /** Paints the pixels where `inside(x, y)` holds, within a bounding box. */
  paint(
    box: { x0: number; y0: number; x1: number; y1: number },
    classId: number, instanceId: number,
    inside: (x: number, y: number) => boolean,
    colour: (x: number, y: number) => Rgb,
  ): void {
    const x0 = Math.max(0, Math.floor(box.x0));
    const y0 = Math.max(0, Math.floor(box.y0));
    const x1 = Math.min(this.width, Math.ceil(box.x1));
    const y1 = Math.min(this.height, Math.ceil(box.y1));
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        if (!inside(x, y)) continue;
        const i = y * this.width + x;
        this.label[i] = classId;
        this.inst[i] = instanceId;
        const [r, g, b] = colour(x, y);
        this.photo[3 * i] = clampByte(r);
        this.photo[3 * i + 1] = clampByte(g);
        this.photo[3 * i + 2] = clampByte(b);
      }
    }
  }

  /** Mild per-pixel texture, deterministic from the PRNG. */
  grain(amplitude: number): number {
    return (this.random() - 0.5) * 2 * amplitude;
  }
}

function clampByte(value: number): number {
  return Math.max(0, Math.min(255, Math.round(value)));
}

function jitter(random: () => number, base: Rgb, amount: number): Rgb {
  return base.map((c) => c + (random() - 0.5) * 2 * amount) as Rgb;
}

const CAR_COLOURS: readonly Rgb[] = [
  [200, 30, 30], [30, 60, 190], [230, 200, 40], [235, 235, 235], [40, 40, 45], [30, 150, 70], [240, 130, 20],
];
const CLOTHES: readonly Rgb[] = [
  [200, 40, 60], [40, 90, 200], [250, 220, 60], [30, 30, 30], [240, 240, 240], [120, 60, 160], [40, 160, 150],
];

/** Draws one whole scene. */
export function drawScene(width: number, height: number, random: () => number): Scene {
  const scene = new Scene(width, height, random);
  const full = { x0: 0, y0: 0, x1: width, y1: height };
  const horizon = Math.round(height * (0.55 + random() * 0.08));
  const sidewalkBottom = horizon + Math.round(height * (0.08 + random() * 0.05));

  // Sky: a vertical gradient, lighter towards the horizon.
  const skyTop = jitter(random, [70, 130, 210], 15);
  scene.paint(full, CityscapesClass.sky, CityscapesClass.sky, () => true, (_x, y) => {
    const t = y / horizon;
    return [skyTop[0] + 80 * t, skyTop[1] + 60 * t, skyTop[2] + 30 * t];
  });

  // Buildings: blocks of varying height and colour with a grid of windows.
  let x = -Math.floor(random() * 20);
  while (x < width) {
    const blockWidth = 30 + Math.floor(random() * 45);
    const top = Math.round(height * (0.08 + random() * 0.3));
    const wall = jitter(random, [150, 120, 95], 30);
    const left = x;
    const windowPitch = 6 + Math.floor(random() * 3);
    scene.paint({ x0: left, y0: top, x1: left + blockWidth, y1: horizon }, CityscapesClass.building, CityscapesClass.building,
      () => true,
      (px, py) => {
        const inWindow = (px - left) % windowPitch >= 2 && (py - top) % (windowPitch + 2) >= 3 && py < horizon - 6;
        const shade = inWindow ? -55 : scene.grain(4);
        return [wall[0] + shade, wall[1] + shade, wall[2] + shade * 0.8];
      });
    x += blockWidth;
  }

  // Trees: round crowns in front of the buildings.
  const trees = 1 + Math.floor(random() * 3);
  for (let t = 0; t < trees; t++) {
    const cx = random() * width;
    const radiusX = 12 + random() * 16;
    const radiusY = radiusX * (0.8 + random() * 0.4);
    const cy = horizon - radiusY * 0.9;
    const green = jitter(random, [60, 125, 50], 15);
    scene.paint({ x0: cx - radiusX, y0: cy - radiusY, x1: cx + radiusX, y1: horizon },
      CityscapesClass.vegetation, CityscapesClass.vegetation,
      (px, py) => ((px - cx) / radiusX) ** 2 + ((py - cy) / radiusY) ** 2 <= 1 || (Math.abs(px - cx) < 2.5 && py > cy),
      (px, py) => {
        const trunk = ((px - cx) / radiusX) ** 2 + ((py - cy) / radiusY) ** 2 > 1;
        if (trunk) return [90, 65, 40];
        const leaf = Math.sin(px * 0.9) * Math.cos(py * 1.1) * 10 + scene.grain(5);
        return [green[0] + leaf, green[1] + leaf, green[2] + leaf];
      });
  }

  // Sidewalk band and road below it.
  const paving = jitter(random, [175, 165, 150], 10);
  scene.paint({ x0: 0, y0: horizon, x1: width, y1: sidewalkBottom }, CityscapesClass.sidewalk, CityscapesClass.sidewalk, () => true,
    (px, py) => {
      const joint = px % 12 === 0 || (py - horizon) % 6 === 0 ? -20 : 0;
      return [paving[0] + joint, paving[1] + joint, paving[2] + joint];
    });
  const asphalt = jitter(random, [85, 85, 92], 8);
  const laneY = Math.round((sidewalkBottom + height) / 2);
  scene.paint({ x0: 0, y0: sidewalkBottom, x1: width, y1: height }, CityscapesClass.road, CityscapesClass.road, () => true,
    (px, py) => {
      const marking = Math.abs(py - laneY) <= 1 && px % 40 < 22 ? 120 : 0;
      const g = scene.grain(3) + marking;
      return [asphalt[0] + g, asphalt[1] + g, asphalt[2] + g];
    });

  // Persons on the sidewalk: an ellipse body with a head; some stand in touching pairs.
  const personGroups = 1 + Math.floor(random() * 3);
  for (let g = 0; g < personGroups; g++) {
    const groupSize = random() < 0.5 ? 2 : 1;
    let px0 = 10 + random() * (width - 40);
    const feet = horizon + 2 + random() * (sidewalkBottom - horizon - 2);
    for (let p = 0; p < groupSize; p++) {
      const personHeight = height * (0.24 + random() * 0.08);
      const bodyWidth = personHeight * 0.3;
      const id = scene.nextInstance(CityscapesClass.person);
      const shirt = CLOTHES[Math.floor(random() * CLOTHES.length)]!;
      const trousers = CLOTHES[Math.floor(random() * CLOTHES.length)]!;
      const cx = px0 + bodyWidth / 2;
      const top = feet - personHeight;
      const headRadius = bodyWidth * 0.42;
      scene.paint({ x0: px0 - 1, y0: top, x1: px0 + bodyWidth + 1, y1: feet }, CityscapesClass.person, id,
        (qx, qy) => {
          const headCy = top + headRadius;
          if (qy < top + 2 * headRadius) return (qx - cx) ** 2 + (qy - headCy) ** 2 <= headRadius ** 2;
          return Math.abs(qx - cx) <= bodyWidth / 2;
        },
        (_qx, qy) => {
          if (qy < top + 2 * headRadius) return [225, 180, 150];
          return qy < top + personHeight * 0.6 ? shirt : trousers;
        });
      // The next person of a pair starts where this one ends: touching instances.
      px0 += bodyWidth;
    }
  }

  // Cars on the road, far ones first; some parked bumper to bumper (touching).
  const carCount = 2 + Math.floor(random() * 3);
  let carX = -10 + random() * 30;
  for (let c = 0; c < carCount; c++) {
    const carWidth = width * (0.2 + random() * 0.1);
    const carHeight = carWidth * 0.45;
    const bottom = sidewalkBottom + 6 + random() * (height - sidewalkBottom - 8);
    const top = bottom - carHeight;
    const id = scene.nextInstance(CityscapesClass.car);
    const body = jitter(random, CAR_COLOURS[Math.floor(random() * CAR_COLOURS.length)]!, 12);
    const left = carX;
    const cabinTop = top;
    const cabinBottom = top + carHeight * 0.45;
    const cabinInset = carWidth * 0.18;
    scene.paint({ x0: left, y0: top, x1: left + carWidth, y1: bottom }, CityscapesClass.car, id,
      (qx, qy) => qy >= cabinBottom || (qx >= left + cabinInset - (qy - cabinTop) * 0.5 && qx <= left + carWidth - cabinInset + (qy - cabinTop) * 0.5),
      (qx, qy) => {
        if (qy < cabinBottom - 1 && qy > cabinTop + 1) return [60, 75, 95]; // windows
        const wheel = qy > bottom - carHeight * 0.22 && ((qx - left) < carWidth * 0.3 && (qx - left) > carWidth * 0.08
          || (qx - left) > carWidth * 0.7 && (qx - left) < carWidth * 0.92);
        if (wheel) return [25, 25, 25];
        const shine = (1 - (qy - top) / carHeight) * 25;
        return [body[0] + shine, body[1] + shine, body[2] + shine];
      });
    // Half the time the next car touches this one; otherwise leave a gap.
    carX = left + carWidth + (random() < 0.5 ? 0 : 8 + random() * 30);
    if (carX > width - 20) carX = random() * 40;
  }
  return scene;
}

function sceneName(index: number): string {
  return `synthcity_${String(index).padStart(6, '0')}_000019`;
}

/** Writes `count` scenes of one phase. */
interface PhaseOptions {
  width: number;
  height: number;
  /** PNG photos (as Cityscapes' leftImg8bit) instead of the compact JPEGs. */
  pngPhotos: boolean;
}

async function writePhase(outDir: string, phase: string, count: number, firstIndex: number, random: () => number, options: PhaseOptions): Promise<void> {
  const dirs = { label: join(outDir, `${phase}_label`), inst: join(outDir, `${phase}_inst`), img: join(outDir, `${phase}_img`) };
  for (const dir of Object.values(dirs)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }
  for (let i = 0; i < count; i++) {
    const size = { width: options.width, height: options.height };
    const scene = drawScene(size.width, size.height, random);
    const name = sceneName(firstIndex + i);
    writeFileSync(join(dirs.label, `${name}_gtFine_labelIds.png`),
      encodePng({ ...size, bitDepth: 8, colorType: PngColorType.gray, samples: scene.label }));
    writeFileSync(join(dirs.inst, `${name}_gtFine_instanceIds.png`),
      encodePng({ ...size, bitDepth: 16, colorType: PngColorType.gray, samples: scene.inst }));
    // JPEG keeps the textured photos small; sharp's encoder output is stable for one libvips version.
    const photo = sharp(Buffer.from(scene.photo), { raw: { ...size, channels: 3 } });
    if (options.pngPhotos) {
      writeFileSync(join(dirs.img, `${name}_leftImg8bit.png`), await photo.png().toBuffer());
    } else {
      writeFileSync(join(dirs.img, `${name}_leftImg8bit.jpg`), await photo.jpeg({ quality: 92, chromaSubsampling: '4:4:4' }).toBuffer());
    }
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const outDir = args[0] !== undefined && !args[0].startsWith('--') ? args[0] : 'fixtures';
  const option = (flag: string, fallback: number): number => {
    const at = args.indexOf(flag);
    return at >= 0 ? Number(args[at + 1]) : fallback;
  };
  const trainCount = option('--train', 24);
  const testCount = option('--test', 8);
  // One PRNG per phase, so changing the test count leaves the train scenes alone.
  const options: PhaseOptions = {
    width: option('--width', FIXTURE_WIDTH),
    height: option('--height', FIXTURE_HEIGHT),
    pngPhotos: args.includes('--png-photos'),
  };
  await writePhase(outDir, 'train', trainCount, 0, createRandom(FIXTURE_SEED), options);
  if (testCount > 0) await writePhase(outDir, 'test', testCount, 1000, createRandom(FIXTURE_SEED + 1), options);
  process.stderr.write(`fixtures: ${trainCount} train + ${testCount} test scenes (${options.width}x${options.height}) in ${outDir}\n`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`make-fixtures: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  });
}
