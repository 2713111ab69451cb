/**
 * The family contract: what a network family (pix2pixHD, pix2pix, ...) tells
 * the rest of p2phd about itself. One folder per family under src/families/,
 * one entry in the registry (index.ts); src/families/README.md is the recipe
 * for adding one.
 *
 * A family has two halves, so that `--help` never loads tfjs:
 * - the card (`FamilyCard`): names and tables only: the stages it trains,
 *   the networks and loss names it declares, its config's keys, defaults and
 *   validation. Commands, the checkpoint reader, log.jsonl, TensorBoard and
 *   the run page read it.
 * - the models (`FamilyModels`, behind `card.load()`): what needs tfjs: the
 *   networks' parameter specs for a config, which networks a stage trains,
 *   and the reference-checkpoint import and export.
 *
 * The training loop (src/train) reads the losses a step reports by the
 * card's `lossNames`; every file it writes records `family` in its
 * metadata, and a checkpoint without it is pix2pixhd (every checkpoint the
 * releases before families wrote).
 */
import type { ParamSpec } from '../model/layers.js';

/** What a family's config validator is given when a value is wrong: an error factory (usage for flags, input for files). */
export type ConfigFailure = (message: string) => Error;

export interface FamilyCard<Config = unknown> {
  /** The registry key, recorded as `family` in checkpoint metadata and options.json. */
  readonly name: string;
  /** One line for help texts and pages, with the paper. */
  readonly title: string;
  /** `p2phd train <stage>` for each stage, with its help line. Stage names are unique across families. */
  readonly stages: Readonly<Record<string, string>>;
  /** The networks a checkpoint may hold, as tensor-name prefixes (`G.` ...). */
  readonly networks: readonly string[];
  /** The losses a training step reports, in the order logs and plots show them (the reference's loss_names). */
  readonly lossNames: readonly string[];
  /** Every key of the architecture config, as recorded in checkpoint metadata. */
  readonly configKeys: readonly string[];
  /** The reference's defaults. */
  readonly defaultConfig: Config;
  /**
   * Fills defaults into `overrides` and validates them (types, allowed values,
   * bounds), reporting each problem through `fail` with the bad value and
   * what is allowed. Unknown keys are refused.
   */
  resolveConfig(overrides: unknown, fail?: ConfigFailure): Config;
  /** The heavy half, loaded on first use. */
  load(): Promise<FamilyModels<Config>>;
}

export interface FamilyModels<Config = unknown> {
  /** Parameter specs (reference state_dict keys, shapes, init) of the named networks. */
  paramSpecs(config: Config, networks: readonly string[]): ParamSpec[];
  /** The networks a stage trains for this config (pix2pixHD's E only with instance features, say). */
  trainingNetworks(config: Config, stage: string): string[];
}
