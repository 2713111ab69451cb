/**
 * Refusals of the recipe flags (--niter-fix-global, --init-partial,
 * --label-feat, --load-features) that do not fit the stage, the model or the
 * data: usage errors before anything heavy runs.
 */
import { UsageError } from '../errors.js';
import type { Stage } from '../families/pix2pixhd/stages.js';
import type { ArchConfig } from '../families/pix2pixhd/config.js';
import type { DataDescription, TrainSettings } from './settings.js';

/**
 * Flags that only some stages take. `niterFixGlobalGiven`: the user typed
 * --niter-fix-global (its default 0 means train local's own G1-fixed
 * training; typed, 0 would read as the reference's 0, which trains every G
 * parameter from the start: that is train joint here, so it is refused with
 * the way to get it).
 */
export function checkRecipeFlags(stage: Stage, settings: TrainSettings, niterFixGlobalGiven = false): void {
  if (settings.niterFixGlobal > 0 && stage !== 'local') {
    throw new UsageError(`--niter-fix-global applies to train local (train ${stage} already trains every G parameter)`);
  }
  if (niterFixGlobalGiven && settings.niterFixGlobal === 0 && stage === 'local') {
    throw new UsageError(
      "--niter-fix-global 0: in the reference, 0 trains every G parameter (G1 too) from the start; here that is train joint " +
        '(train joint --init <G1 run> builds the enhancer fresh and trains all of G). train local keeps G1 fixed throughout ' +
        'unless --niter-fix-global N > 0 frees it after N epochs: drop the flag, or give N',
    );
  }
  if (settings.initPartial && settings.init === undefined) throw new UsageError('--init-partial needs --init: the checkpoint to load what fits from');
  if (settings.loadFeatures !== undefined && stage === 'global') {
    throw new UsageError('--load-features applies to train local and joint (the reference precomputes the maps of a trained E for the high-resolution stage)');
  }
}

/** The features G takes against the data: instance maps, label ids, a model with features at all. */
export function checkFeatureSettings(config: ArchConfig, data: DataDescription, settings: TrainSettings): void {
  if (config.instance_feat && !config.label_feat && !data.instance) {
    throw new UsageError('--instance-feat needs instance maps, and the samples have none (preprocessed with --no-instance; --label-feat pools per label instead)');
  }
  if (config.label_feat && data.label_nc === 0) {
    throw new UsageError('--label-feat pools the encoder\'s features per label id, and the samples hold RGB label images (label_nc 0)');
  }
  if (settings.loadFeatures !== undefined && !config.instance_feat) {
    throw new UsageError(`--load-features ${settings.loadFeatures}: the model takes no features (train with --instance-feat or --label-feat)`);
  }
}
