/**
 * Which map E's features are pooled over: the instance map, or with
 * label_feat the label map (the reference's encode_input passes label_map
 * as E's inst_map when label_feat is set). Encode and synthesize both ask
 * here, so the two agree with training.
 */
import { InputError } from '../errors.js';
import type { ArchConfig } from '../families/pix2pixhd/config.js';
import type { LoadedInput } from './inputs.js';

/** The ids E's features are pooled by for `input`; undefined when the input lacks that map. */
export function featurePoolIds(config: ArchConfig, input: LoadedInput, instanceMap: Int32Array | undefined = input.instanceMap): Int32Array | undefined {
  if (!config.label_feat) return instanceMap;
  return input.labels ? Int32Array.from(input.labels) : undefined;
}

/** featurePoolIds, or exit 3 naming the input and the map it lacks. */
export function requireFeaturePoolIds(config: ArchConfig, input: LoadedInput, what: string): Int32Array {
  const ids = featurePoolIds(config, input);
  if (ids) return ids;
  throw new InputError(
    config.label_feat
      ? `${input.source}: has no label ids; ${what} pools the encoder's features per label (label_feat) and needs them`
      : `${input.source}: sample has no instance map (inst); ${what} needs instance maps (preprocess without --no-instance)`,
  );
}
