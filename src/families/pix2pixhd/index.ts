/**
 * pix2pixHD's card (Wang et al., CVPR 2018; NVIDIA/pix2pixHD): the stages it
 * trains, the networks and losses it declares, its architecture config.
 * Free of tfjs; the networks load through `load()`.
 */
import type { FamilyCard } from '../family.js';
import { CONFIG_KEYS, DEFAULT_CONFIG, resolveConfig, type ArchConfig } from './config.js';
import { STAGES } from './stages.js';

/** The loss names, in the reference's loss_names order. */
export const PIX2PIXHD_LOSS_NAMES = Object.freeze(['G_GAN', 'G_GAN_Feat', 'G_VGG', 'D_real', 'D_fake'] as const);

export const pix2pixhd: FamilyCard<ArchConfig> = Object.freeze({
  name: 'pix2pixhd',
  title: 'pix2pixHD (Wang et al., CVPR 2018): label maps to photos, coarse-to-fine, with instance styles',
  stages: STAGES,
  networks: Object.freeze(['G', 'D', 'E'] as const),
  lossNames: PIX2PIXHD_LOSS_NAMES,
  configKeys: CONFIG_KEYS,
  defaultConfig: DEFAULT_CONFIG,
  resolveConfig,
  async load() {
    const { pix2pixhdModels } = await import('./models.js');
    return pix2pixhdModels;
  },
});
