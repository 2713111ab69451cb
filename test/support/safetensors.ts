/** safetensors bytes built by hand, to craft hostile files. */

/** A header object and a zeroed data region; `headerLength` overrides the length prefix. */
export function rawSafetensors(header: object, dataBytes: number, headerLength?: bigint): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(headerLength ?? BigInt(json.length));
  return Buffer.concat([prefix, json, Buffer.alloc(dataBytes)]);
}

/** Like rawSafetensors, from the header's JSON text as given (to craft what JSON.stringify cannot: duplicate keys). */
export function rawSafetensorsText(headerJson: string, dataBytes: number): Buffer {
  const json = Buffer.from(headerJson);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, json, Buffer.alloc(dataBytes)]);
}
