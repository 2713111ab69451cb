/**
 * `train --init` (and `--init-partial`): the starting weights of a new run
 * from a checkpoint, by name and shape, with the checks that keep a load
 * from going silently wrong:
 *
 * - zero G weight tensors loaded is an error, not a warning: the run would train a
 *   generator from scratch while the user believes it fine-tunes one (a
 *   wrong --ngf, another label set without --init-partial, ...);
 * - train local keeps the global part `G.model.*` fixed (until
 *   --niter-fix-global's switch), so a freshly initialised tensor there would
 *   be random weights that never train: refused, naming them.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { UsageError } from '../errors.js';
import { initialiseFromCheckpoint, type Checkpoint } from '../families/checkpoint.js';
import type { Stage } from '../families/pix2pixhd/stages.js';
import type { ArchConfig } from '../families/pix2pixhd/config.js';
import type { NetworkName } from '../families/pix2pixhd/networks.js';
import { disposeParams, type LoadResult } from '../model/params.js';

export interface InitReport {
  readonly params: Map<string, tf.Tensor>;
  /** One line for the log, and the detail lines. */
  readonly summary: string;
  readonly details: string[];
  readonly loaded: readonly string[];
  readonly initialised: ReadonlyArray<{ key: string; reason: string }>;
  /** Checkpoint tensors of the loaded networks that this architecture has no place for. */
  readonly unused: readonly string[];
}

/** The global part of a local enhancer: what train local keeps fixed. */
const GLOBAL_PART = /^G\.model\./;

/**
 * Loads what fits of `checkpoint` into `config`'s `networks`, the rest
 * freshly initialised from `seed`, and checks the result (see above).
 * `partial` (--init-partial) only changes the messages: the caller has
 * already allowed another label set.
 */
export function initialiseWeights(
  checkpoint: Checkpoint,
  config: ArchConfig,
  networks: readonly NetworkName[],
  seed: number,
  options: { stage: Stage; partial: boolean; generatorFixed: boolean },
): InitReport {
  const result: LoadResult = initialiseFromCheckpoint(checkpoint, config, networks, seed);
  try {
    // Biases alone (the output layer's [3] always fits) are no fine-tuning: count G's weight tensors.
    const loadedG = result.loaded.filter((key) => key.startsWith('G.') && (checkpoint.tensors.get(key)?.shape.length ?? 0) >= 2);
    const flag = options.partial ? '--init-partial' : '--init';
    if (loadedG.length === 0) {
      throw new UsageError(
        `${flag} ${checkpoint.source}: not one generator weight tensor fits this architecture (first misfit: ${describeFirst(result, 'G.')}); ` +
          'nothing would be fine-tuned. Check --ngf, --n-local-enhancers and the other architecture flags against the checkpoint\'s config (p2phd inspect shows it)',
      );
    }
    if (config.netG === 'local' && options.stage === 'local' && options.generatorFixed) {
      const frozenFresh = result.initialised.filter((entry) => GLOBAL_PART.test(entry.key));
      if (frozenFresh.length > 0) {
        throw new UsageError(
          `${flag} ${checkpoint.source}: train local keeps the global part G.model.* fixed, but ${frozenFresh.length} of its tensors do not fit ` +
            `(${frozenFresh.slice(0, 3).map((entry) => `${entry.key} ${entry.reason}`).join('; ')}${frozenFresh.length > 3 ? '; ...' : ''}): ` +
            'they would stay random. Use train joint (every parameter trains), or --niter-fix-global N, or fix --ngf / --n-local-enhancers',
        );
      }
    }
    const byNetwork = (keys: readonly string[]): string =>
      (['G', 'D', 'E'] as const)
        .map((network) => [network, keys.filter((key) => key.startsWith(`${network}.`)).length] as const)
        .filter(([, count]) => count > 0)
        .map(([network, count]) => `${network} ${count}`)
        .join(', ') || 'none';
    const fresh = result.initialised.map((entry) => entry.key);
    const summary =
      `${flag} ${checkpoint.source} (a ${checkpoint.meta.stage} checkpoint): loaded ${result.loaded.length} tensors (${byNetwork(result.loaded)}), ` +
      `freshly initialised ${fresh.length} (${byNetwork(fresh)})`;
    const details: string[] = [];
    // --init-partial is a deliberate fine-tune: both lists in full (plain --init lists the loaded ones under --verbose).
    if (options.partial) details.push(`  loaded: ${result.loaded.join(', ')}`);
    if (result.initialised.length > 0) details.push(`  initialised: ${result.initialised.map((entry) => `${entry.key} (${entry.reason})`).join(', ')}`);
    return { params: result.params, summary, details, loaded: result.loaded, initialised: result.initialised, unused: result.unused };
  } catch (error) {
    disposeParams(result.params);
    throw error;
  }
}

function describeFirst(result: LoadResult, prefix: string): string {
  const entry = result.initialised.find((item) => item.key.startsWith(prefix));
  return entry ? `${entry.key} ${entry.reason}` : 'the checkpoint holds no G.* tensors';
}
