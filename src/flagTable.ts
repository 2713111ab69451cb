/**
 * Flag tables: each command family declares its flags once, in a frozen
 * table of these specs; commander options, the typed values and the help
 * text all derive from the table, so a flag cannot exist in one place and be
 * missing in another. Ground floor: any module may build a table.
 */

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
