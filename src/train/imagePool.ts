/**
 * The reference's ImagePool (util/image_pool.py): a buffer of past
 * discriminator inputs (label channels + fake image) so that D_fake is
 * sometimes computed on older fakes. Until the pool is full every image is
 * stored and returned; then each image is, with probability 1/2, swapped
 * with a random stored one (the stored one is returned), else returned as is.
 *
 * Images are kept as Float32Arrays outside the tensor heap, and the pool is
 * saved with the optimizer state so a resumed run draws the same images.
 */
import type { Random } from '../model/random.js';

export class ImagePool {
  private readonly images: Float32Array[] = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`ImagePool: capacity must be an integer >= 0, got ${capacity}`);
  }

  get size(): number {
    return this.images.length;
  }

  /** The stored images, oldest slot first (for saving). */
  stored(): readonly Float32Array[] {
    return this.images;
  }

  /** Restores a saved pool. */
  restore(images: readonly Float32Array[]): void {
    if (images.length > this.capacity) throw new RangeError(`ImagePool: ${images.length} saved images exceed the capacity ${this.capacity}`);
    this.images.length = 0;
    for (const image of images) this.images.push(image);
  }

  /**
   * Queries a batch of `count` images laid out back to back in `batch`
   * (each `batch.length / count` values) and returns the batch D should see.
   */
  query(batch: Float32Array, count: number, random: Random): Float32Array {
    if (this.capacity === 0) return batch;
    const imageSize = batch.length / count;
    const result = new Float32Array(batch.length);
    for (let b = 0; b < count; b++) {
      const image = batch.slice(b * imageSize, (b + 1) * imageSize);
      if (this.images.length < this.capacity) {
        this.images.push(image);
        result.set(image, b * imageSize);
      } else if (random.nextFloat() > 0.5) {
        const slot = random.nextInt(this.capacity);
        result.set(this.images[slot]!, b * imageSize);
        this.images[slot] = image;
      } else {
        result.set(image, b * imageSize);
      }
    }
    return result;
  }
}
