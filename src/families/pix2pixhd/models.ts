/** pix2pixHD's heavy half (tfjs): parameter specs and the networks each stage trains. */
import type { FamilyModels } from '../family.js';
import type { ArchConfig } from './config.js';
import { modelSpecs, trainingNetworks, type NetworkName } from './networks.js';

const NETWORK_NAMES: readonly NetworkName[] = ['G', 'D', 'E'];

function asNetworks(names: readonly string[]): NetworkName[] {
  return NETWORK_NAMES.filter((name) => names.includes(name));
}

export const pix2pixhdModels: FamilyModels<ArchConfig> = Object.freeze({
  paramSpecs: (config: ArchConfig, networks: readonly string[]) => modelSpecs(config, asNetworks(networks)),
  // Every stage trains G and D (+ E); `train local` differs in the config (netG local), not the networks.
  trainingNetworks: (config: ArchConfig) => trainingNetworks(config),
});
