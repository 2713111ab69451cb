/**
 * An independent reader of TensorBoard event files for the tests: TFRecord
 * framing and CRC32C (bitwise, from the Castagnoli polynomial) and the
 * protobuf wire format written out here from TensorFlow's event.proto and
 * summary.proto field numbers, sharing no code with src/data/formats/tensorboard.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** CRC-32C, reflected polynomial 0x82F63B78, bit by bit. */
export function crc32cBitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function masked(crc: number): number {
  const rotated = ((crc >>> 15) | (crc << 17)) >>> 0;
  return (rotated + 0xa282ead8) >>> 0;
}

export interface ScalarValue { tag: string; value: number }
export interface ImageValue { tag: string; height: number; width: number; colorspace: number; png: Buffer }
export interface DecodedEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  scalars: ScalarValue[];
  images: ImageValue[];
}

/** Protobuf fields of one message: field number -> raw values (numbers for varints, Buffers otherwise). */
function fields(bytes: Buffer): Array<{ field: number; wire: number; value: bigint | Buffer }> {
  const out: Array<{ field: number; wire: number; value: bigint | Buffer }> = [];
  let offset = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = bytes[offset++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (offset < bytes.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ field, wire, value: varint() });
    else if (wire === 1) { out.push({ field, wire, value: bytes.subarray(offset, offset + 8) }); offset += 8; }
    else if (wire === 5) { out.push({ field, wire, value: bytes.subarray(offset, offset + 4) }); offset += 4; }
    else if (wire === 2) { const length = Number(varint()); out.push({ field, wire, value: bytes.subarray(offset, offset + length) }); offset += length; }
    else throw new Error(`unexpected wire type ${wire}`);
  }
  return out;
}

function decodeEvent(bytes: Buffer): DecodedEvent {
  const event: DecodedEvent = { wallTime: NaN, step: 0, scalars: [], images: [] };
  for (const { field, value } of fields(bytes)) {
    if (field === 1) event.wallTime = (value as Buffer).readDoubleLE(0); // double wall_time = 1
    else if (field === 2) event.step = Number(value as bigint); // int64 step = 2
    else if (field === 3) event.fileVersion = (value as Buffer).toString('utf8'); // string file_version = 3
    else if (field === 5) {
      // Summary summary = 5 { repeated Value value = 1 }
      for (const summaryField of fields(value as Buffer)) {
        if (summaryField.field !== 1) continue;
        let tag = '';
        let scalar: number | undefined;
        let image: Omit<ImageValue, 'tag'> | undefined;
        for (const valueField of fields(summaryField.value as Buffer)) {
          if (valueField.field === 1) tag = (valueField.value as Buffer).toString('utf8'); // string tag = 1
          else if (valueField.field === 2) scalar = (valueField.value as Buffer).readFloatLE(0); // float simple_value = 2
          else if (valueField.field === 4) {
            // Image image = 4 { int32 height = 1; int32 width = 2; int32 colorspace = 3; bytes encoded_image_string = 4 }
            image = { height: 0, width: 0, colorspace: 0, png: Buffer.alloc(0) };
            for (const imageField of fields(valueField.value as Buffer)) {
              if (imageField.field === 1) image.height = Number(imageField.value as bigint);
              else if (imageField.field === 2) image.width = Number(imageField.value as bigint);
              else if (imageField.field === 3) image.colorspace = Number(imageField.value as bigint);
              else if (imageField.field === 4) image.png = Buffer.from(imageField.value as Buffer);
            }
          }
        }
        if (scalar !== undefined) event.scalars.push({ tag, value: scalar });
        if (image) event.images.push({ tag, ...image });
      }
    }
  }
  return event;
}

/** Every record of a file; throws on a bad CRC or a torn record. */
export function readEventsFile(path: string): DecodedEvent[] {
  const bytes = readFileSync(path);
  const events: DecodedEvent[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (offset + 12 > bytes.length) throw new Error(`${path}: torn record header at ${offset}`);
    const lengthBytes = bytes.subarray(offset, offset + 8);
    if (bytes.readUInt32LE(offset + 8) !== masked(crc32cBitwise(lengthBytes))) throw new Error(`${path}: bad length CRC at ${offset}`);
    const length = Number(bytes.readBigUInt64LE(offset));
    const data = bytes.subarray(offset + 12, offset + 12 + length);
    if (data.length !== length || offset + 16 + length > bytes.length) throw new Error(`${path}: torn record at ${offset}`);
    if (bytes.readUInt32LE(offset + 12 + length) !== masked(crc32cBitwise(data))) throw new Error(`${path}: bad data CRC at ${offset}`);
    events.push(decodeEvent(data));
    offset += 16 + length;
  }
  return events;
}

/** The events of every events.out.tfevents.* file of a folder, files in name order (as TensorBoard reads them). */
export function readEventsFolder(dir: string): { files: string[]; events: DecodedEvent[] } {
  const files = readdirSync(dir).filter((name) => name.startsWith('events.out.tfevents.')).sort();
  return { files, events: files.flatMap((name) => readEventsFile(join(dir, name))) };
}
