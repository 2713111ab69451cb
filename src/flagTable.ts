/**
 * Flag tables: each command family declares its flags once, in a frozen
 * table of these specs; commander options, the typed values and the help
 * text all derive from the table, so a flag cannot exist in one place and be
 * missing in another. Ground floor: any module may build a table.
 */
import { Option } from 'commander';
import { integerFlag, numberFlag } from './flagValues.js';

export interface FlagSpec<T> {
  /** Commander's spelling, e.g. '--n-blocks-global <n>'. */
  readonly flags: string;
  readonly help: string;
  readonly parse?: (value: string) => T;
  /** Commander default (undefined: the value is undefined when the flag is absent). */
  readonly defaultValue?: T;
  /** Shown in --help when the default is computed elsewhere. */
  readonly defaultHelp?: string;
  readonly choices?: readonly string[];
  /** Run-control flags may differ on --resume; everything else must match the run folder. */
  readonly changeableOnResume?: boolean;
  /** Only marks the value type (never read at run time). */
  readonly type?: T;
}

/** A flag whose value is undefined when it is not given. */
export function valued<T>(spec: FlagSpec<T>): FlagSpec<T> {
  return Object.freeze(spec);
}

export type Defaulted<T> = FlagSpec<T> & { readonly defaultValue: T };

/** A flag with a commander default: its value is always present. */
export function defaulted<T>(spec: Defaulted<T>): Defaulted<T> {
  return Object.freeze(spec);
}

/** A boolean switch; `--no-x` switches default to true (commander's negatable form). */
export function toggle(flags: string, help: string, extra: Partial<FlagSpec<boolean>> = {}): Defaulted<boolean> {
  return Object.freeze({ flags, help, ...extra, defaultValue: flags.startsWith('--no-') });
}

export const optionalString = (value: string): string => value;

/** What differs between the training loops' run-control flags: the reference's save_epoch_freq and how a strip reads. */
export interface RunControlFlagTexts {
  readonly saveEpochEveryDefault: number;
  /** The sample strip as --sample-every names it ("PNG strip", "strip (A | fake B | real B)"). */
  readonly strip: string;
  /** Appended to --keep-samples' help (may be empty). */
  readonly keepSamplesNote: string;
}

/**
 * The run-control flags every training loop takes (stopping, saving, sample
 * strips), declared once: each may change on --resume.
 */
export function runControlFlags(texts: RunControlFlagTexts) {
  return {
    maxSteps: valued<number>({ flags: '--max-steps <n>', help: 'stop (exit 0) after this many steps in total', parse: integerFlag('--max-steps', 1), changeableOnResume: true }),
    timeLimit: valued<number>({ flags: '--time-limit <minutes>', help: 'save and exit 75 before this much wall time has passed', parse: numberFlag('--time-limit', 0), changeableOnResume: true }),
    saveEvery: defaulted<number>({ flags: '--save-every <steps>', help: 'write latest.safetensors every this many steps', parse: integerFlag('--save-every', 1), defaultValue: 1000, changeableOnResume: true }),
    saveEpochEvery: defaulted<number>({ flags: '--save-epoch-every <n>', help: 'keep an epoch_NNN checkpoint every this many epochs, and after the last (reference save_epoch_freq)', parse: integerFlag('--save-epoch-every', 1), defaultValue: texts.saveEpochEveryDefault, changeableOnResume: true }),
    sampleEvery: defaulted<number>({ flags: '--sample-every <steps>', help: `write a samples/ ${texts.strip} every this many steps (and at epoch ends)`, parse: integerFlag('--sample-every', 1), defaultValue: 100, changeableOnResume: true }),
    keepSamples: defaulted<number>({ flags: '--keep-samples <n>', help: `keep the latest N samples/ strips plus the last of each epoch${texts.keepSamplesNote}`, parse: integerFlag('--keep-samples', 0), defaultValue: 20, changeableOnResume: true }),
  } as const;
}

/**
 * The commander Options of a table, checking that each key is commander's
 * attribute name (so parsed options index straight into the table), except
 * the keys `renamed` lists (a table may key a negatable flag by its own name).
 */
export function commanderOptions(table: Readonly<Record<string, FlagSpec<unknown>>>, tableName: string, renamed: readonly string[] = []): Option[] {
  return Object.entries(table).map(([name, spec]) => {
    const defaultNote = spec.defaultHelp ? ` (default: ${spec.defaultHelp})` : '';
    const option = new Option(spec.flags, `${spec.help}${defaultNote}`);
    if (!renamed.includes(name) && option.attributeName() !== name) {
      throw new Error(`${tableName} flag table: key ${name} does not match commander's attribute ${option.attributeName()}`);
    }
    if (spec.parse) option.argParser(spec.parse as (value: string, previous: unknown) => unknown);
    if (spec.choices) option.choices([...spec.choices]);
    if (spec.defaultValue !== undefined && !option.negate) option.default(spec.defaultValue);
    return option;
  });
}
