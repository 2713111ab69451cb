/**
 * Colours for drawing label maps: the Cityscapes palette for its 35 label ids
 * (the colours of the dataset's own labels table), and a generated palette of
 * well-separated hues for any other label_nc.
 */

/** Cityscapes label id -> [r, g, b]. */
const CITYSCAPES_COLOURS: ReadonlyArray<readonly [number, number, number]> = Object.freeze([
  [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0], // unlabeled, ego vehicle, rectification border, out of roi, static
  [111, 74, 0], [81, 0, 81], [128, 64, 128], [244, 35, 232], [250, 170, 160], // dynamic, ground, road, sidewalk, parking
  [230, 150, 140], [70, 70, 70], [102, 102, 156], [190, 153, 153], [180, 165, 180], // rail track, building, wall, fence, guard rail
  [150, 100, 100], [150, 120, 90], [153, 153, 153], [153, 153, 153], [250, 170, 30], // bridge, tunnel, pole, polegroup, traffic light
  [220, 220, 0], [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60], // traffic sign, vegetation, terrain, sky, person
  [255, 0, 0], [0, 0, 142], [0, 0, 70], [0, 60, 100], [0, 0, 90], // rider, car, truck, bus, caravan
  [0, 0, 110], [0, 80, 100], [0, 0, 230], [119, 11, 32], [0, 0, 142], // trailer, train, motorcycle, bicycle, license plate
]);

function hsvToRgb(hue: number, saturation: number, value: number): [number, number, number] {
  const sector = Math.floor(hue * 6);
  const fraction = hue * 6 - sector;
  const p = value * (1 - saturation);
  const q = value * (1 - fraction * saturation);
  const t = value * (1 - (1 - fraction) * saturation);
  const [r, g, b] = [[value, t, p], [q, value, p], [p, value, t], [p, q, value], [t, p, value], [value, p, q]][sector % 6]!;
  return [Math.round(r! * 255), Math.round(g! * 255), Math.round(b! * 255)];
}

/**
 * A palette of `labelNc` colours, flattened [r0, g0, b0, r1, ...]. Cityscapes
 * colours for label_nc 35; otherwise hues stepped by the golden ratio, so
 * neighbouring ids get distant colours, with id 0 black.
 */
export function labelPalette(labelNc: number): Uint8Array {
  const palette = new Uint8Array(Math.max(labelNc, 1) * 3);
  for (let id = 0; id < labelNc; id++) {
    const colour = labelNc === CITYSCAPES_COLOURS.length
      ? CITYSCAPES_COLOURS[id]!
      : id === 0 ? [0, 0, 0] as const : hsvToRgb((id * 0.618033988749895) % 1, 0.65 + 0.35 * ((id * 7) % 3) / 2, 0.95 - 0.3 * (id % 2));
    palette.set(colour, id * 3);
  }
  return palette;
}

/** Colours a label map [H*W] of ids into RGB bytes [H*W*3]; ids outside the palette are grey. */
export function colourLabels(labels: ArrayLike<number>, labelNc: number, palette = labelPalette(labelNc)): Uint8Array {
  const rgb = new Uint8Array(labels.length * 3);
  for (let i = 0; i < labels.length; i++) {
    const id = labels[i]!;
    if (id >= 0 && id < labelNc) {
      rgb[i * 3] = palette[id * 3]!;
      rgb[i * 3 + 1] = palette[id * 3 + 1]!;
      rgb[i * 3 + 2] = palette[id * 3 + 2]!;
    } else {
      rgb.fill(128, i * 3, i * 3 + 3);
    }
  }
  return rgb;
}
