/**
 * The model's public entry: what training, encode and synthesize import.
 * Networks are pure forward functions over a parameter map (checkpoint name
 * -> tensor in tfjs layout), differentiable with tf.grads / tf.variableGrads.
 */
export * from './config.js';
export {
  countParameters,
  isTrainable,
  REFERENCE_INFERENCE,
  type ForwardOptions,
  type ParamRole,
  type ParamSpec,
  type Params,
} from './layers.js';
export * from './networks.js';
export { instanceAveragePool, instanceSegments, type InstanceSegments } from './encoder.js';
export { downsamplePyramid } from './localEnhancer.js';
export type { DiscriminatorOptions } from './discriminator.js';
export * from './losses.js';
export {
  disposeParams,
  fromReferenceTensor,
  initParams,
  loadParams,
  referenceDtype,
  referenceShape,
  toReferenceTensor,
  toVariables,
  type LoadOptions,
  type LoadResult,
} from './params.js';
export { initialTensor, initialValues, INIT_WEIGHT_STD } from './init.js';
export { Random, hashString, type RandomState } from './random.js';
