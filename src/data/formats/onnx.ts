/**
 * ONNX model files (https://onnx.ai): a protobuf `ModelProto`. This module
 * writes and reads the part of the format a p2phd network needs: a graph of
 * nodes over float32 tensors, weights as initializers (raw little-endian
 * bytes), inputs and outputs with symbolic (dynamic) dimensions, node
 * attributes of the scalar and list kinds. The wire format is protobufjs's
 * job; the schema below is a subset of onnx/onnx.proto (same field numbers
 * and types, fields p2phd never writes left out: a reader skips unknown
 * fields, so files stay valid ONNX).
 *
 * What goes into a graph (which operators, in which order) is the caller's:
 * see synthesis/onnxExport.ts.
 */
import * as protobuf from 'protobufjs';

/** onnx.proto, the messages and fields p2phd writes (field numbers are the format). */
const ONNX_SCHEMA = `
syntax = "proto2";
package onnx;

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5;
    FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10;
  }
  optional string name = 1;
  optional string doc_string = 13;
  optional AttributeType type = 20;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
  optional string doc_string = 3;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  optional string domain = 7;
  repeated AttributeProto attribute = 5;
  optional string doc_string = 6;
}

message StringStringEntryProto {
  optional string key = 1;
  optional string value = 2;
}

message ModelProto {
  optional int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string domain = 4;
  optional int64 model_version = 5;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  optional string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}

message TensorProto {
  enum DataType {
    UNDEFINED = 0; FLOAT = 1; UINT8 = 2; INT8 = 3; UINT16 = 4; INT16 = 5; INT32 = 6; INT64 = 7;
    STRING = 8; BOOL = 9; FLOAT16 = 10; DOUBLE = 11; UINT32 = 12; UINT64 = 13;
  }
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  repeated float float_data = 4 [packed = true];
  repeated int64 int64_data = 7 [packed = true];
  optional string name = 8;
  optional string doc_string = 12;
  optional bytes raw_data = 9;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
    optional string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
  optional string denotation = 6;
}

message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}
`;

/** TensorProto.DataType values p2phd writes. */
export const ONNX_DATA_TYPES = Object.freeze({ FLOAT: 1, INT64: 7 } as const);

const ATTRIBUTE_TYPES = Object.freeze({ FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const);

/**
 * IR version 8 (ONNX 1.10+): what opsets 15 to 18 are defined with; ONNX
 * Runtime 1.10+ and TensorRT 8.4+ read it.
 */
export const ONNX_IR_VERSION = 8;

let modelType: protobuf.Type | undefined;

/** The ModelProto type, parsed from the schema on first use. */
function modelProto(): protobuf.Type {
  modelType ??= protobuf.parse(ONNX_SCHEMA, { keepCase: true }).root.lookupType('onnx.ModelProto');
  return modelType;
}

/** An attribute value: a number is an INT unless listed in `floats`; arrays likewise. */
export type OnnxAttributeValue =
  | { readonly int: number }
  | { readonly float: number }
  | { readonly string: string }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] };

export interface OnnxNode {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly name?: string;
  readonly attributes?: Readonly<Record<string, OnnxAttributeValue>>;
}

export interface OnnxInitializer {
  readonly name: string;
  readonly dims: readonly number[];
  /** float32 or int64 values, row-major. */
  readonly data: Float32Array | BigInt64Array;
}

/** A dimension: a fixed size, or a name shared by the dimensions that must agree (dynamic). */
export type OnnxDimension = number | string;

export interface OnnxValueInfo {
  readonly name: string;
  /** float32 only: every p2phd graph input and output is. */
  readonly dims: readonly OnnxDimension[];
  readonly doc?: string;
}

export interface OnnxModel {
  readonly graphName: string;
  readonly opsetVersion: number;
  readonly producerName: string;
  readonly producerVersion: string;
  readonly doc?: string;
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  readonly nodes: readonly OnnxNode[];
  readonly initializers: readonly OnnxInitializer[];
  /** Free-form key/value pairs (ModelProto.metadata_props). */
  readonly metadata?: Readonly<Record<string, string>>;
}

function attributeMessage(name: string, value: OnnxAttributeValue): Record<string, unknown> {
  if ('int' in value) return { name, type: ATTRIBUTE_TYPES.INT, i: value.int };
  if ('float' in value) return { name, type: ATTRIBUTE_TYPES.FLOAT, f: value.float };
  if ('string' in value) return { name, type: ATTRIBUTE_TYPES.STRING, s: Buffer.from(value.string, 'utf8') };
  if ('ints' in value) return { name, type: ATTRIBUTE_TYPES.INTS, ints: [...value.ints] };
  return { name, type: ATTRIBUTE_TYPES.FLOATS, floats: [...value.floats] };
}

/** The bytes of a typed array as stored in raw_data: little-endian, as ONNX requires. */
function littleEndianBytes(data: Float32Array | BigInt64Array): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] === 1) return bytes;
  // A big-endian host: swap each element's bytes.
  const width = data.BYTES_PER_ELEMENT;
  const swapped = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += width) for (let b = 0; b < width; b++) swapped[i + b] = bytes[i + width - 1 - b]!;
  return swapped;
}

function valueInfoMessage(info: OnnxValueInfo): Record<string, unknown> {
  return {
    name: info.name,
    ...(info.doc !== undefined ? { doc_string: info.doc } : {}),
    type: {
      tensor_type: {
        elem_type: ONNX_DATA_TYPES.FLOAT,
        shape: { dim: info.dims.map((dim) => (typeof dim === 'number' ? { dim_value: dim } : { dim_param: dim })) },
      },
    },
  };
}

/** Encodes a model as ONNX protobuf bytes. */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const message = {
    ir_version: ONNX_IR_VERSION,
    opset_import: [{ domain: '', version: model.opsetVersion }],
    producer_name: model.producerName,
    producer_version: model.producerVersion,
    ...(model.doc !== undefined ? { doc_string: model.doc } : {}),
    metadata_props: Object.entries(model.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: model.graphName,
      node: model.nodes.map((node) => ({
        input: [...node.inputs],
        output: [...node.outputs],
        ...(node.name !== undefined ? { name: node.name } : {}),
        op_type: node.opType,
        attribute: Object.entries(node.attributes ?? {}).map(([name, value]) => attributeMessage(name, value)),
      })),
      initializer: model.initializers.map((tensor) => ({
        name: tensor.name,
        dims: [...tensor.dims],
        data_type: tensor.data instanceof Float32Array ? ONNX_DATA_TYPES.FLOAT : ONNX_DATA_TYPES.INT64,
        raw_data: littleEndianBytes(tensor.data),
      })),
      input: model.inputs.map(valueInfoMessage),
      output: model.outputs.map(valueInfoMessage),
    },
  };
  return modelProto().encode(message).finish();
}

/** A decoded model as plain objects (int64s as numbers, bytes as Uint8Array), field names as in onnx.proto. */
export interface DecodedOnnxModel {
  ir_version: number;
  opset_import: Array<{ domain?: string; version: number }>;
  producer_name?: string;
  producer_version?: string;
  metadata_props?: Array<{ key: string; value: string }>;
  graph: {
    name?: string;
    node: Array<{
      input?: string[];
      output?: string[];
      name?: string;
      op_type: string;
      domain?: string;
      attribute?: Array<{ name: string; type: number; i?: number; f?: number; s?: Uint8Array; ints?: number[]; floats?: number[] }>;
    }>;
    initializer?: Array<{ name: string; dims?: number[]; data_type: number; raw_data?: Uint8Array }>;
    input: Array<DecodedValueInfo>;
    output: Array<DecodedValueInfo>;
  };
}

export interface DecodedValueInfo {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim?: Array<{ dim_value?: number; dim_param?: string }> } } };
}

/** Decodes ONNX protobuf bytes against the schema (throws protobufjs's error on malformed input). */
export function decodeOnnxModel(bytes: Uint8Array): DecodedOnnxModel {
  const type = modelProto();
  return type.toObject(type.decode(bytes), { longs: Number, arrays: true }) as DecodedOnnxModel;
}
