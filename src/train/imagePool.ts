/**
 * The reference's ImagePool (util/image_pool.py): a buffer of past
 * discriminator inputs (label channels + fake image) so that D_fake is
 * sometimes computed on older fakes. Until the pool is full every image is
 * stored and returned; then each image is, with probability 1/2, swapped
 * with a random stored one (the stored one is returned), else returned as is.
 *
 * On the host path images are kept as Float32Arrays outside the tensor heap;
 * the device path keeps them as (flat) tensors on the device. Either way the
 * pool is saved with the optimizer state so a resumed run draws the same
 * images: the draws depend only on the random stream, never on the images.
 */
import type { Random } from '../model/random.js';

/** What one draw did: the images D sees, and which images entered and left the pool. */
export interface PoolDraw<Image> {
  readonly shown: Image[];
  /** Batch images the pool now holds. */
  readonly stored: Image[];
  /** Images the pool no longer holds (each also in `shown`). */
  readonly released: Image[];
}

export class ImagePool<Image = Float32Array> {
  private readonly images: Image[] = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`ImagePool: capacity must be an integer >= 0, got ${capacity}`);
  }

  get size(): number {
    return this.images.length;
  }

  /** The stored images, oldest slot first (for saving). */
  stored(): readonly Image[] {
    return this.images;
  }

  /** Restores a saved pool. */
  restore(images: readonly Image[]): void {
    if (images.length > this.capacity) throw new RangeError(`ImagePool: ${images.length} saved images exceed the capacity ${this.capacity}`);
    this.images.length = 0;
    for (const image of images) this.images.push(image);
  }

  /** The reference's query over a batch of images: for each, the image D sees. */
  draw(batch: readonly Image[], random: Random): PoolDraw<Image> {
    const shown: Image[] = [];
    const stored: Image[] = [];
    const released: Image[] = [];
    for (const image of batch) {
      if (this.images.length < this.capacity) {
        this.images.push(image);
        stored.push(image);
        shown.push(image);
      } else if (random.nextFloat() > 0.5) {
        const slot = random.nextInt(this.capacity);
        const old = this.images[slot]!;
        shown.push(old);
        released.push(old);
        this.images[slot] = image;
        stored.push(image);
      } else {
        shown.push(image);
      }
    }
    return { shown, stored, released };
  }

  /**
   * Queries a batch of `count` images laid out back to back in `batch`
   * (each `batch.length / count` values) and returns the batch D should see.
   */
  query(this: ImagePool<Float32Array>, batch: Float32Array, count: number, random: Random): Float32Array {
    if (this.capacity === 0) return batch;
    const imageSize = batch.length / count;
    const images = Array.from({ length: count }, (_, b) => batch.slice(b * imageSize, (b + 1) * imageSize));
    const result = new Float32Array(batch.length);
    this.draw(images, random).shown.forEach((image, b) => result.set(image, b * imageSize));
    return result;
  }
}
