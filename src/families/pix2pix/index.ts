/**
 * pix2pix's card (Isola et al., CVPR 2017; junyanz/pytorch-CycleGAN-and-pix2pix):
 * the stage it trains (`p2phd train pix2pix`), its networks and losses, its
 * architecture config. Free of tfjs; the networks load through `load()`.
 */
import type { FamilyCard } from '../family.js';
import { PIX2PIX_CONFIG_KEYS, PIX2PIX_DEFAULTS, PIX2PIX_LOSS_NAMES, resolvePix2pixConfig, type Pix2pixConfig } from './config.js';

export const pix2pix: FamilyCard<Pix2pixConfig> = Object.freeze({
  name: 'pix2pix',
  title: 'pix2pix (Isola et al., CVPR 2017): paired image-to-image translation, U-Net or ResNet G, PatchGAN D, GAN + L1',
  stages: Object.freeze({ pix2pix: 'train pix2pix on aligned A|B samples (p2phd preprocess --aligned)' }),
  networks: Object.freeze(['G', 'D'] as const),
  lossNames: PIX2PIX_LOSS_NAMES,
  configKeys: PIX2PIX_CONFIG_KEYS,
  defaultConfig: PIX2PIX_DEFAULTS,
  resolveConfig: resolvePix2pixConfig,
  async load() {
    const { pix2pixModels } = await import('./models.js');
    return pix2pixModels;
  },
});
