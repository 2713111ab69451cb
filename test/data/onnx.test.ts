/**
 * The ONNX writer: a hand-built model encodes and decodes back (through
 * protobufjs and the same schema) field for field, with the byte layout
 * ONNX fixes (raw_data little-endian, int64 dims, symbolic dimensions).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeOnnxModel, encodeOnnxModel, ONNX_DATA_TYPES, ONNX_IR_VERSION } from '../../src/data/formats/onnx.js';

describe('ONNX writer', () => {
  const weight = Float32Array.from([1.5, -2, 0.25, 3e-8]);
  const pads = BigInt64Array.from([0n, 0n, 1n, 1n, 0n, 0n, 1n, 1n]);
  const bytes = encodeOnnxModel({
    graphName: 'tiny',
    opsetVersion: 17,
    producerName: 'p2phd',
    producerVersion: '0.0.0',
    inputs: [{ name: 'x', dims: ['batch', 1, 'height', 'width'] }],
    outputs: [{ name: 'y', dims: ['batch', 1, 'height', 'width'] }],
    nodes: [
      { opType: 'Pad', inputs: ['x', 'pads'], outputs: ['padded'], name: 'pad', attributes: { mode: { string: 'reflect' } } },
      {
        opType: 'Conv',
        inputs: ['padded', 'w'],
        outputs: ['y'],
        attributes: { kernel_shape: { ints: [2, 2] }, pads: { ints: [0, 0, 1, 1] } },
      },
      { opType: 'InstanceNormalization', inputs: ['y', 's', 'b'], outputs: ['z'], attributes: { epsilon: { float: 1e-5 } } },
    ],
    initializers: [
      { name: 'w', dims: [1, 1, 2, 2], data: weight },
      { name: 'pads', dims: [8], data: pads },
    ],
    metadata: { network: 'G' },
  });

  it('decodes back to what was written', () => {
    const model = decodeOnnxModel(bytes);
    assert.equal(model.ir_version, ONNX_IR_VERSION);
    assert.deepEqual(model.opset_import, [{ domain: '', version: 17 }]);
    assert.equal(model.producer_name, 'p2phd');
    assert.deepEqual(model.metadata_props, [{ key: 'network', value: 'G' }]);
    assert.deepEqual(model.graph.node.map((node) => node.op_type), ['Pad', 'Conv', 'InstanceNormalization']);
    const [pad, conv, norm] = model.graph.node;
    assert.deepEqual(pad!.input, ['x', 'pads']);
    // AttributeProto.type: STRING 3, INTS 7, FLOAT 1 (onnx.proto).
    assert.equal(pad!.attribute![0]!.type, 3);
    assert.equal(Buffer.from(pad!.attribute![0]!.s!).toString('utf8'), 'reflect');
    assert.deepEqual(conv!.attribute!.map((a) => [a.name, a.type, a.ints]), [['kernel_shape', 7, [2, 2]], ['pads', 7, [0, 0, 1, 1]]]);
    assert.equal(norm!.attribute![0]!.type, 1);
    assert.equal(norm!.attribute![0]!.f, Math.fround(1e-5));
    const dims = model.graph.input[0]!.type.tensor_type.shape.dim!;
    assert.deepEqual(dims, [{ dim_param: 'batch' }, { dim_value: 1 }, { dim_param: 'height' }, { dim_param: 'width' }]);
    assert.equal(model.graph.input[0]!.type.tensor_type.elem_type, 1);
  });

  it('stores initializers as little-endian raw data with int64 dims', () => {
    const [w, p] = decodeOnnxModel(bytes).graph.initializer!;
    assert.deepEqual(w!.dims, [1, 1, 2, 2]);
    assert.equal(w!.data_type, ONNX_DATA_TYPES.FLOAT);
    const view = new DataView(w!.raw_data!.buffer, w!.raw_data!.byteOffset, w!.raw_data!.byteLength);
    assert.deepEqual([0, 1, 2, 3].map((i) => view.getFloat32(4 * i, true)), [...weight]);
    assert.equal(p!.data_type, 7);
    const padView = new DataView(p!.raw_data!.buffer, p!.raw_data!.byteOffset, p!.raw_data!.byteLength);
    assert.deepEqual([0, 2, 7].map((i) => padView.getBigInt64(8 * i, true)), [0n, 1n, 1n]);
  });

  it('writes the protobuf wire format ONNX readers expect (field 1 = ir_version, varint)', () => {
    // Tag of field 1, wire type 0 (varint), then the value.
    assert.equal(bytes[0], (1 << 3) | 0);
    assert.equal(bytes[1], ONNX_IR_VERSION);
  });
});
