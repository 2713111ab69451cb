/**
 * Style selection for instance-feature models: which cluster centre each
 * instance gets, and the feature map built from those choices (G's last
 * feat_num input channels). Pure and seeded; per-call options, separate from
 * the architecture.
 *
 * As the reference's sample_features: an instance's class is its id (< 1000)
 * or id // 1000; an instance whose class has centres gets one of them over
 * all its pixels; the others keep zeros (the reference leaves them as the
 * uninitialised memory of a fresh tensor; zeros are what that usually holds
 * and what p2phd uses deterministically).
 */
import { UsageError } from '../errors.js';
import { centerOf, type ClusterSet } from '../data/files/clusters.js';
import type { Random } from '../model/random.js';
import { classOfInstance } from './featureRows.js';

/** --style values. */
export const STYLE_MODES = Object.freeze({
  random: 'a seeded random centre per instance (the reference)',
  first: 'centre 0 of each class',
  all: 'one output per cluster index s: centre s (mod k_c) for every instance',
} as const);
export type StyleMode = keyof typeof STYLE_MODES;

/** --style-map: instance id -> cluster index, applied on top of any mode. */
export type StyleMap = ReadonlyMap<number, number>;

/** How the instances without a style-map entry are styled in one output. */
export type StyleRule = { readonly mode: 'random'; readonly random: Random } | { readonly mode: 'first' } | { readonly mode: 'index'; readonly index: number };

/**
 * Parses a style map's JSON text: an object whose keys are instance ids and
 * whose values are cluster indices, all non-negative integers. Problems are
 * usage errors (exit 2) naming the file and the entry.
 */
export function parseStyleMap(text: string, source: string): Map<number, number> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--style-map ${source}: not valid JSON (${(error as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UsageError(`--style-map ${source}: expected a JSON object {"<instance id>": <cluster index>, ...}`);
  }
  const entries = Object.entries(parsed as Record<string, unknown>);
  const map = new Map<number, number>();
  const keyOf = new Map<number, string>();
  for (const [key, value] of entries) {
    if (!/^\d+$/.test(key) || !Number.isSafeInteger(Number(key))) {
      throw new UsageError(`--style-map ${source}: key "${key}" is not an instance id (a non-negative integer)`);
    }
    const previous = keyOf.get(Number(key));
    if (previous !== undefined) throw new UsageError(`--style-map ${source}: keys "${previous}" and "${key}" both name instance ${Number(key)}`);
    keyOf.set(Number(key), key);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new UsageError(`--style-map ${source}: instance ${key} -> ${JSON.stringify(value)} is not a cluster index (a non-negative integer)`);
    }
    map.set(Number(key), value);
  }
  // JSON.parse keeps the last of two equal keys. The values are numbers
  // (checked above), so every string literal followed by a colon in the text
  // is a key: one seen before is a repeat.
  const keysInText = new Set<string>();
  for (const match of text.matchAll(/"((?:[^"\\]|\\.)*)"\s*:/g)) {
    const key = JSON.parse(`"${match[1]!}"`) as string;
    if (keysInText.has(key)) throw new UsageError(`--style-map ${source}: key "${key}" is given twice`);
    keysInText.add(key);
  }
  return map;
}

/**
 * Checks every entry against the clusters: the instance's class must have
 * centres and the index must be below its k_c. Exit 2 naming the entry.
 */
export function checkStyleMap(styleMap: StyleMap, clusters: ClusterSet, source: string): void {
  for (const [instanceId, index] of styleMap) {
    const classId = classOfInstance(instanceId);
    const centers = clusters.centers.get(classId);
    if (!centers) {
      const known = [...clusters.centers.keys()].join(', ') || 'none';
      throw new UsageError(`--style-map ${source}: instance ${instanceId} is of class ${classId}, which has no cluster centres (classes with centres: ${known})`);
    }
    if (index >= centers.count) {
      throw new UsageError(`--style-map ${source}: instance ${instanceId} -> cluster ${index}, but class ${classId} has ${centers.count} centres (0..${centers.count - 1})`);
    }
  }
}

/** The ids of a style map that no given instance map holds (ascending). */
export function unknownStyleMapIds(styleMap: StyleMap, seenInstanceIds: ReadonlySet<number>): number[] {
  return [...styleMap.keys()].filter((id) => !seenInstanceIds.has(id)).sort((a, b) => a - b);
}

/**
 * The cluster index of each instance (ascending ids), or -1 for an instance
 * whose class has no centres. Random draws are made in ascending id order,
 * one per instance with centres, as the reference's loop over np.unique.
 */
export function chooseStyles(instanceIds: readonly number[], clusters: ClusterSet, rule: StyleRule, styleMap: StyleMap = new Map()): Map<number, number> {
  const choice = new Map<number, number>();
  for (const id of instanceIds) {
    const centers = clusters.centers.get(classOfInstance(id));
    if (!centers) {
      choice.set(id, -1);
      continue;
    }
    let index: number;
    switch (rule.mode) {
      case 'random':
        // Drawn even when the style map overrides it, so that naming one
        // instance does not change the draws of the others.
        index = rule.random.nextInt(centers.count);
        break;
      case 'first':
        index = 0;
        break;
      case 'index':
        index = rule.index % centers.count;
        break;
    }
    choice.set(id, styleMap.get(id) ?? index);
  }
  return choice;
}

/**
 * The feature map (HWC [height * width * featNum]) for the chosen styles:
 * every pixel holds its instance's centre, or zeros.
 */
export function styleFeatureMap(instanceMap: Int32Array, clusters: ClusterSet, choice: ReadonlyMap<number, number>): Float32Array {
  const featNum = clusters.featNum;
  const out = new Float32Array(instanceMap.length * featNum);
  const vectorOf = new Map<number, Float32Array | null>();
  for (const [id, index] of choice) {
    const centers = clusters.centers.get(classOfInstance(id));
    vectorOf.set(id, index < 0 || !centers ? null : centerOf(centers, featNum, index));
  }
  for (let pixel = 0; pixel < instanceMap.length; pixel++) {
    const vector = vectorOf.get(instanceMap[pixel]!);
    if (vector) out.set(vector, pixel * featNum);
  }
  return out;
}
