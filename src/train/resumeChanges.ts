/**
 * What may change between the runs of one training on `--resume`, settled
 * in one place before any tensor is built: the inputs at new paths (checked
 * by content, runInputs.ts) and a longer or shorter schedule (extendRun.ts).
 * options.json is rewritten when either changed, so a later plain `--resume`
 * continues with them.
 */
import type { SampleFolder } from './data.js';
import { checkScheduleChange } from './extendRun.js';
import type { RunFolder } from './runFolder.js';
import { checkResumedInputs, parseRunInputs } from './runInputs.js';
import type { TrainSettings } from './settings.js';

export interface ResumeChanges {
  /** The VGG weights file to read (the recorded path, or a moved one with the same content). */
  readonly vggWeights: string | undefined;
  /** Set when an epoch is re-entered mid-way under a changed schedule: the rate it started with. */
  readonly midEpochLr: number | undefined;
}

export async function settleResumeChanges(input: {
  run: RunFolder;
  /** options.json as read, and its settings. */
  stored: { raw: Record<string, unknown>; settings: TrainSettings };
  /** This invocation's settings (the schedule as given on the command line). */
  settings: TrainSettings;
  /** --vgg-weights when given on this command line. */
  givenVggWeights: string | undefined;
  folder: SampleFolder;
  position: { epoch: number; index: number; step: number };
  /** The rate of the epoch in progress, from the optimizer file. */
  savedLr: () => number;
  log: (line: string) => void;
}): Promise<ResumeChanges> {
  const { run, stored, settings, position } = input;
  const vggWeights = await checkResumedInputs(parseRunInputs(stored.raw['inputs']), { vggWeights: stored.settings.vggWeights }, { vggWeights: input.givenVggWeights }, input.folder);
  const change = checkScheduleChange(
    { lr: stored.settings.lr, epochs: stored.settings.epochs, decayEpochs: stored.settings.decayEpochs },
    { lr: settings.lr, epochs: settings.epochs, decayEpochs: settings.decayEpochs },
    position,
  );
  if (change.message) input.log(change.message);
  if (change.changed || vggWeights !== stored.settings.vggWeights) {
    const history = Array.isArray(stored.raw['schedule_changes']) ? (stored.raw['schedule_changes'] as unknown[]) : [];
    await run.writeOptions({
      ...stored.raw,
      settings: { ...stored.settings, epochs: settings.epochs, decayEpochs: settings.decayEpochs, vggWeights },
      ...(change.changed ? { schedule_changes: [...history, { at_step: position.step, epochs: settings.epochs, decay_epochs: settings.decayEpochs }] } : {}),
    });
  }
  // An epoch re-entered mid-way finishes at the rate it started with.
  return { vggWeights, midEpochLr: change.changed && position.index > 0 ? input.savedLr() : undefined };
}
