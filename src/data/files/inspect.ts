/**
 * What a tensor file holds, as a JSON-ready object: the p2phd kind and
 * version (null for safetensors written by other programs), the metadata,
 * and per tensor its dtype, shape, byte size and min/max/mean.
 */
import { readSafetensorsFile } from './tensorFile.js';
import type { Tensor } from '../formats/safetensors.js';
import { describePath } from '../../errors.js';

export interface TensorSummary {
  name: string;
  dtype: string;
  shape: number[];
  bytes: number;
  min: number | null;
  max: number | null;
  mean: number | null;
}

export interface FileSummary {
  file: string;
  kind: string | null;
  version: number | null;
  /** The p2phd entry's other keys, parsed. */
  p2phd: Record<string, unknown> | null;
  /** The raw safetensors __metadata__, except the p2phd entry. */
  metadata: Record<string, string>;
  tensors: TensorSummary[];
}

/** min, max, mean of a tensor's values (NaN-free inputs; I64 via Number). Empty tensors give nulls. */
export function tensorStats(tensor: Tensor): { min: number | null; max: number | null; mean: number | null } {
  const data = tensor.data;
  if (data.length === 0) return { min: null, max: null, mean: null };
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  if (data instanceof BigInt64Array) {
    for (const value of data) {
      const n = Number(value);
      if (n < min) min = n;
      if (n > max) max = n;
      sum += n;
    }
  } else {
    for (let i = 0; i < data.length; i++) {
      const n = data[i]!;
      if (n < min) min = n;
      if (n > max) max = n;
      sum += n;
    }
  }
  return { min, max, mean: sum / data.length };
}

function parseP2phd(raw: string | undefined): Record<string, unknown> | null {
  if (raw === undefined) return null;
  try {
    const parsed: unknown = JSON.parse(raw);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export async function inspectFile(path: string): Promise<FileSummary> {
  const file = await readSafetensorsFile(path);
  const { p2phd: rawP2phd, ...otherMetadata } = file.metadata;
  const p2phd = parseP2phd(rawP2phd);
  const kind = p2phd && typeof p2phd['kind'] === 'string' ? p2phd['kind'] : null;
  const version = p2phd && typeof p2phd['version'] === 'number' ? p2phd['version'] : null;
  const rest = p2phd ? Object.fromEntries(Object.entries(p2phd).filter(([key]) => key !== 'kind' && key !== 'version')) : null;
  const tensors = [...file.tensors].map(([name, tensor]) => ({
    name,
    dtype: tensor.dtype,
    shape: tensor.shape,
    bytes: tensor.data.byteLength,
    ...tensorStats(tensor),
  }));
  return { file: describePath(path), kind, version, p2phd: rest, metadata: otherMetadata, tensors };
}
