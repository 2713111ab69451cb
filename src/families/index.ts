/**
 * The registry of network families: a checkpoint's `family` metadata, a
 * `train <stage>` subcommand or `--family` names one of these. Adding a
 * family is one entry here (src/families/README.md).
 */
import { InputError, UsageError } from '../errors.js';
import type { FamilyCard } from './family.js';
import { pix2pix } from './pix2pix/index.js';
import { pix2pixhd } from './pix2pixhd/index.js';

export const FAMILIES: Readonly<Record<string, FamilyCard>> = Object.freeze({
  pix2pixhd: pix2pixhd as FamilyCard,
  pix2pix: pix2pix as FamilyCard,
});

/** What a file without `family` in its metadata is: every checkpoint written before families were. */
export const DEFAULT_FAMILY = 'pix2pixhd';

export function familyNames(): string[] {
  return Object.keys(FAMILIES);
}

/** The family a flag names (`--family`), or a usage error listing the known ones. */
export function familyByName(name: string, flag = '--family'): FamilyCard {
  const family = Object.prototype.hasOwnProperty.call(FAMILIES, name) ? FAMILIES[name] : undefined;
  if (family === undefined) throw new UsageError(`${flag} ${JSON.stringify(name)}: unknown family; known: ${familyNames().join(', ')}`);
  return family;
}

/** The family a file's metadata records (absent: pix2pixhd); an unknown one is an input error naming the file. */
export function familyOfMetadata(meta: Readonly<Record<string, unknown>>, source: string): FamilyCard {
  const name = meta['family'] ?? DEFAULT_FAMILY;
  if (typeof name !== 'string' || !Object.prototype.hasOwnProperty.call(FAMILIES, name)) {
    throw new InputError(`${source}: family ${JSON.stringify(name)} is not one this p2phd knows (${familyNames().join(', ')}); a newer p2phd may have written it`);
  }
  return FAMILIES[name]!;
}

/** The family that trains `stage` (`p2phd train <stage>`). */
export function familyOfStage(stage: string): FamilyCard | undefined {
  return Object.values(FAMILIES).find((family) => Object.prototype.hasOwnProperty.call(family.stages, stage));
}

/** Every stage of every family, with its family: the `train` subcommands. */
export function allStages(): Array<{ stage: string; description: string; family: FamilyCard }> {
  return Object.values(FAMILIES).flatMap((family) => Object.entries(family.stages).map(([stage, description]) => ({ stage, description, family })));
}
