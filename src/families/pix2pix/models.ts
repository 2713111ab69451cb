/** pix2pix's heavy half (tfjs): parameter specs; its one stage trains G and D. */
import type { FamilyModels } from '../family.js';
import type { Pix2pixConfig } from './config.js';
import { pix2pixSpecs, type Pix2pixNetwork } from './networks.js';

export const pix2pixModels: FamilyModels<Pix2pixConfig> = Object.freeze({
  paramSpecs: (config: Pix2pixConfig, networks: readonly string[]) => pix2pixSpecs(config, (['G', 'D'] as const).filter((name): name is Pix2pixNetwork => networks.includes(name))),
  trainingNetworks: () => ['G', 'D'],
});
