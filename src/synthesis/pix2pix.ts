/**
 * pix2pix's G on one image of any size. Output size = input size: the input
 * is padded by reflection to G's size multiple (256 for unet_256, 128 for
 * unet_128, 4 for the ResNet G; at least its minimum side) and the output
 * cropped back, by padding.ts's rule, as for pix2pixHD (the reference
 * resizes to 256x256 and returns that). Padding changes batch statistics a
 * little in the two batch-statistics test modes; an input that already
 * fits is not padded. Test modes: families/pix2pix/inference.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ForwardOptions, Params } from '../model/layers.js';
import { pix2pixMinimumSide, pix2pixSizeMultiple, type Pix2pixConfig } from '../families/pix2pix/config.js';
import { pix2pixGenerate } from '../families/pix2pix/networks.js';
import { cropPadding, padReflect, paddingFor } from './padding.js';

export interface TranslateInput {
  /** [height, width, input_nc] in [-1, 1]. */
  readonly image: Float32Array;
  readonly height: number;
  readonly width: number;
}

/** G(image): [height, width, output_nc] in [-1, 1], the input's size whatever it is. */
export function translate(config: Pix2pixConfig, params: Params, input: TranslateInput, options: ForwardOptions): Float32Array {
  const { height, width } = input;
  const padding = paddingFor(height, width, pix2pixSizeMultiple(config), pix2pixMinimumSide(config));
  const padded = padReflect(input.image, height, width, config.input_nc, padding);
  const paddedHeight = height + padding.top + padding.bottom;
  const paddedWidth = width + padding.left + padding.right;
  const output = tf.tidy(() => {
    const x = tf.tensor4d(padded, [1, paddedHeight, paddedWidth, config.input_nc]);
    return pix2pixGenerate(config, params, x, options);
  });
  try {
    const values = output.dataSync() as Float32Array;
    return cropPadding(Float32Array.from(values), paddedHeight, paddedWidth, config.output_nc, padding);
  } finally {
    output.dispose();
  }
}
