/**
 * Per-class k-means over feature rows, as the reference's encode_features.py
 * does after encoding: for each class, the rows whose area ratio exceeds
 * min_area, clustered into k_c = min(k, rows) centres; classes with no such
 * rows get no centres.
 *
 * ml-kmeans with k-means++ initialisation, seeded. Like scikit-learn's
 * KMeans (which the reference calls with n_init = 10), several seeded
 * initialisations are tried and the one with the lowest inertia is kept, so
 * an unlucky first draw does not merge two well-separated styles. Every
 * class uses the same seeds, and each class's rows are put in a canonical
 * (lexicographic) order before clustering, so the result depends only on the
 * seed and on the set of rows: encode shards merged in any order give the
 * centres of the unsharded run.
 */
import { kmeans } from 'ml-kmeans';
import type { ClassCenters, ClusterSet } from '../data/files/clusters.js';
import { featureRow, featureRowCount, type FeatureTable } from '../data/files/features.js';

export interface ClusterOptions {
  /** Centres per class at most. */
  readonly k: number;
  /** Rows with area ratio <= this are left out (the reference: 0.5). */
  readonly minArea: number;
  readonly seed: number;
  /** Seeded k-means++ restarts; the lowest inertia wins. */
  readonly restarts?: number;
  readonly maxIterations?: number;
}

export const DEFAULT_RESTARTS = 10;
const DEFAULT_MAX_ITERATIONS = 300;

export interface ClassReport {
  readonly classId: number;
  readonly rows: number;
  readonly centers: number;
  /** Fewer distinct rows than centres: some centres repeat. */
  readonly duplicated: boolean;
}

function squaredDistance(a: readonly number[], b: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    sum += d * d;
  }
  return sum;
}

function inertia(points: readonly number[][], centers: readonly number[][]): number {
  let total = 0;
  for (const point of points) {
    let best = Infinity;
    for (const center of centers) best = Math.min(best, squaredDistance(point, center));
    total += best;
  }
  return total;
}

function compareLexicographic(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** Distinct points in first-appearance order. */
function distinctPoints(points: readonly number[][]): number[][] {
  const seen = new Set<string>();
  const out: number[][] = [];
  for (const point of points) {
    const key = point.join(',');
    if (!seen.has(key)) {
      seen.add(key);
      out.push(point);
    }
  }
  return out;
}

/**
 * k-means of one class's points into exactly `count` centres (count <= points).
 * k-means++ divides by the total squared distance to the first centre, which
 * is zero when all points coincide; with fewer distinct points than centres
 * the distinct points are the centres and some repeat (scikit-learn returns
 * duplicate centres in that case too, with a warning).
 */
export function kmeansCenters(points: readonly number[][], count: number, seed: number, restarts = DEFAULT_RESTARTS, maxIterations = DEFAULT_MAX_ITERATIONS): { centers: number[][]; duplicated: boolean } {
  const distinct = distinctPoints(points);
  if (distinct.length <= count) {
    const centers = Array.from({ length: count }, (_, i) => [...distinct[i % distinct.length]!]);
    return { centers, duplicated: distinct.length < count };
  }
  let best: number[][] | undefined;
  let bestInertia = Infinity;
  for (let restart = 0; restart < restarts; restart++) {
    const result = kmeans(points as number[][], count, {
      initialization: 'kmeans++',
      seed: seed + restart,
      maxIterations,
      tolerance: 1e-12,
    });
    const score = inertia(points, result.centroids);
    // Strictly lower only: ties keep the earliest restart, for determinism.
    if (score < bestInertia) {
      bestInertia = score;
      best = result.centroids;
    }
  }
  return { centers: best!, duplicated: false };
}

/** Per-class centres of a feature table. Classes are processed in ascending id order. */
export function clusterFeatures(table: FeatureTable, options: ClusterOptions): { set: ClusterSet; report: ClassReport[] } {
  const pointsByClass = new Map<number, number[][]>();
  const rows = featureRowCount(table);
  for (let row = 0; row < rows; row++) {
    if (!(table.areas[row]! > options.minArea)) continue;
    const classId = table.classes[row]!;
    let points = pointsByClass.get(classId);
    if (!points) pointsByClass.set(classId, (points = []));
    points.push(Array.from(featureRow(table, row)));
  }
  const centers = new Map<number, ClassCenters>();
  const report: ClassReport[] = [];
  for (const classId of [...pointsByClass.keys()].sort((a, b) => a - b)) {
    const points = pointsByClass.get(classId)!.sort(compareLexicographic);
    const count = Math.min(options.k, points.length);
    const result = kmeansCenters(points, count, options.seed, options.restarts, options.maxIterations);
    const values = new Float32Array(count * table.featNum);
    result.centers.forEach((center, i) => values.set(center, i * table.featNum));
    centers.set(classId, { count, values });
    report.push({ classId, rows: points.length, centers: count, duplicated: result.duplicated });
  }
  return {
    set: { featNum: table.featNum, centers, k: options.k, minArea: options.minArea, seed: options.seed },
    report,
  };
}
