/**
 * TensorBoard event files (`events.out.tfevents.*`): TFRecord framing
 * (uint64 length, masked CRC32C of the length, the bytes, masked CRC32C of
 * the bytes) around `tensorboard.Event` protobuf messages. Scalars are
 * legacy `Summary.Value.simple_value`s and images `Summary.Image`s holding
 * PNG bytes, which every TensorBoard version reads.
 *
 * The protobuf encoding is protobufjs's, from the subset of TensorFlow's
 * event.proto / summary.proto declared below (field numbers as upstream);
 * CRC32C is @aws-crypto/crc32c's.
 */
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createOutputFolder } from './atomicWrite.js';
import protobuf from 'protobufjs/light.js';
import { crc32c } from '@aws-crypto/crc32c';

/** The part of TensorFlow's event.proto and summary.proto that p2phd writes. */
const SCHEMA = protobuf.Root.fromJSON({
  nested: {
    tensorboard: {
      nested: {
        Event: {
          oneofs: { what: { oneof: ['file_version', 'summary'] } },
          fields: {
            wall_time: { type: 'double', id: 1 },
            step: { type: 'int64', id: 2 },
            file_version: { type: 'string', id: 3 },
            summary: { type: 'Summary', id: 5 },
          },
        },
        Summary: {
          fields: { value: { rule: 'repeated', type: 'Value', id: 1 } },
          nested: {
            Image: {
              fields: {
                height: { type: 'int32', id: 1 },
                width: { type: 'int32', id: 2 },
                colorspace: { type: 'int32', id: 3 },
                encoded_image_string: { type: 'bytes', id: 4 },
              },
            },
            Value: {
              oneofs: { value: { oneof: ['simple_value', 'image'] } },
              fields: {
                tag: { type: 'string', id: 1 },
                simple_value: { type: 'float', id: 2 },
                image: { type: 'Image', id: 4 },
              },
            },
          },
        },
      },
    },
  },
});
const EVENT = SCHEMA.lookupType('tensorboard.Event');

/** The first event of every file, as TensorFlow writes it. */
export const FILE_VERSION = 'brain.Event:2';

/** A decoded event (plain object; int64 steps as numbers). */
export interface TensorboardEvent {
  wall_time: number;
  step: number;
  file_version?: string;
  summary?: {
    value: Array<{
      tag: string;
      simple_value?: number;
      image?: { height: number; width: number; colorspace: number; encoded_image_string: Uint8Array };
    }>;
  };
}

export interface SummaryImage {
  /** PNG bytes. */
  png: Uint8Array;
  width: number;
  height: number;
  /** 1 grey, 3 RGB, 4 RGBA (the Summary.Image colorspace). */
  channels: number;
}

/** TFRecord's masked CRC: rotate right by 15 and add a constant (mod 2^32). */
export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = crc32c(bytes) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord: length, its masked CRC, the data, its masked CRC. */
export function frameRecord(data: Uint8Array): Buffer {
  const record = Buffer.alloc(8 + 4 + data.length + 4);
  record.writeBigUInt64LE(BigInt(data.length), 0);
  record.writeUInt32LE(maskedCrc32c(record.subarray(0, 8)), 8);
  record.set(data, 12);
  record.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return record;
}

export function encodeEvent(event: TensorboardEvent): Uint8Array {
  return EVENT.encode(EVENT.fromObject(event)).finish();
}

/**
 * The step of an encoded Event from its first bytes: protobufjs writes
 * fields in number order, so wall_time (1) and step (2) lead every record
 * and 32 bytes hold both. A record without field 2 is at step 0.
 */
function stepOfEvent(prefix: Uint8Array): number {
  const reader = protobuf.Reader.create(prefix);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    if (field === 2) {
      const step = reader.int64();
      return protobuf.util.LongBits.from(step).toNumber();
    }
    if (field > 2) return 0;
    reader.skipType(tag & 7);
  }
  return 0;
}

/**
 * Scans a file's records (headers and step fields only: an events file of
 * a long run holds thousands of images, which stay unread) and returns the
 * byte offset where the file should end: before the first record whose
 * step is after `lastStep`, or before a last record that is cut short or
 * fails its CRC (a write torn by a kill); the file's size when every record
 * is kept. One process writes a file in step order, and only its last write
 * can be torn.
 */
async function keptLength(path: string, lastStep: number): Promise<{ keep: number; size: number }> {
  const handle = await fsp.open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    const header = Buffer.alloc(12);
    let offset = 0;
    while (offset + 12 <= size) {
      await handle.read(header, 0, 12, offset);
      if (header.readUInt32LE(8) !== maskedCrc32c(header.subarray(0, 8))) break;
      const length = Number(header.readBigUInt64LE(0));
      const end = offset + 16 + length;
      if (end > size) break;
      const isLast = end === size;
      const data = Buffer.alloc(isLast ? length + 4 : Math.min(length, 32));
      await handle.read(data, 0, data.length, offset + 12);
      if (isLast && data.readUInt32LE(length) !== maskedCrc32c(data.subarray(0, length))) break;
      let step: number;
      try {
        step = stepOfEvent(data.subarray(0, Math.min(length, 32)));
      } catch {
        break; // not an Event: nothing from here on is TensorBoard's to read
      }
      if (step > lastStep) break;
      offset = end;
    }
    return { keep: offset, size };
  } finally {
    await handle.close();
  }
}

const EVENT_FILE_PATTERN = /^events\.out\.tfevents\./;

/**
 * Appends events to a new `events.out.tfevents.<seconds>.<host>.<pid>` file
 * in `dir`. A resumed run first cuts the folder's earlier files before the
 * steps after its checkpoint (logged, then lost when the run stopped
 * without saving them), so TensorBoard shows every step once (reading only
 * the records' headers and steps, not their images).
 */
export class EventFileWriter {
  private constructor(
    readonly path: string,
    private readonly handle: fsp.FileHandle,
  ) {}

  static async open(dir: string, options: { resumedAtStep?: number } = {}): Promise<EventFileWriter> {
    createOutputFolder(dir, 'TensorBoard folder');
    if (options.resumedAtStep !== undefined) await dropStepsAfter(dir, options.resumedAtStep);
    const base = `events.out.tfevents.${Math.floor(Date.now() / 1000)}.${hostname().replace(/[^A-Za-z0-9._-]/g, '_')}.${process.pid}`;
    let path = join(dir, base);
    for (let n = 1; ; n++) {
      try {
        const handle = await fsp.open(path, 'wx');
        const writer = new EventFileWriter(path, handle);
        await writer.write({ wall_time: Date.now() / 1000, step: 0, file_version: FILE_VERSION });
        return writer;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        path = join(dir, `${base}.${n}`);
      }
    }
  }

  /** Scalars of one step, in one event (one `Summary.Value` per tag). */
  async scalars(step: number, values: Readonly<Record<string, number>>, wallTime = Date.now() / 1000): Promise<void> {
    const value = Object.entries(values).map(([tag, simple_value]) => ({ tag, simple_value }));
    await this.write({ wall_time: wallTime, step, summary: { value } });
  }

  async image(step: number, tag: string, image: SummaryImage, wallTime = Date.now() / 1000): Promise<void> {
    const summaryImage = { height: image.height, width: image.width, colorspace: image.channels, encoded_image_string: image.png };
    await this.write({ wall_time: wallTime, step, summary: { value: [{ tag, image: summaryImage }] } });
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  private async write(event: TensorboardEvent): Promise<void> {
    // One write per record, so a kill leaves at most one torn record at the end.
    await this.handle.write(frameRecord(encodeEvent(event)));
  }
}

/** Cuts each events file of `dir` before its first step after `step` (and any torn record). */
async function dropStepsAfter(dir: string, step: number): Promise<void> {
  for (const name of (await fsp.readdir(dir)).filter((entry) => EVENT_FILE_PATTERN.test(entry)).sort()) {
    const path = join(dir, name);
    const { keep, size } = await keptLength(path, step);
    if (keep < size) await fsp.truncate(path, keep);
  }
}
