/**
 * ONNX Runtime (`onnxruntime-node`, an optional dependency) as an inference
 * engine: graph sessions over in-memory ONNX models, run on the CPU
 * execution provider (MLAS), or on CUDA where the CUDA provider is installed
 * and P2PHD_ONNXRUNTIME_PROVIDER=cuda asks for it.
 *
 * The package is loaded with a plain require and described by the few types
 * below, so that p2phd builds and runs where it is not installed (npm ci
 * --omit=optional, or a platform without a prebuilt binary).
 */
import { UsageError } from '../../errors.js';

/** The npm package that provides the engine. */
export const ONNXRUNTIME_PACKAGE = 'onnxruntime-node';

/** Execution providers p2phd asks ONNX Runtime for, by P2PHD_ONNXRUNTIME_PROVIDER. */
export const ONNXRUNTIME_PROVIDERS = Object.freeze(['cpu', 'cuda'] as const);
export type OnnxRuntimeProvider = (typeof ONNXRUNTIME_PROVIDERS)[number];

interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly type: string;
  dispose?(): void;
}

interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

interface OrtSessionOptions {
  executionProviders: readonly string[];
  graphOptimizationLevel: 'all';
  logSeverityLevel: 0 | 1 | 2 | 3 | 4;
  intraOpNumThreads?: number;
}

/** The part of onnxruntime-node's API p2phd uses. */
interface OrtModule {
  readonly InferenceSession: { create(model: Uint8Array, options: OrtSessionOptions): Promise<OrtSession> };
  readonly Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  readonly env: { readonly versions: Readonly<Record<string, string | undefined>> };
  readonly listSupportedBackends?: () => ReadonlyArray<{ readonly name: string; readonly bundled: boolean }>;
}

/** onnxruntime-node cannot be used here; `notInstalled` when it is simply absent. */
export class OnnxRuntimeUnavailable extends Error {
  constructor(
    message: string,
    readonly notInstalled: boolean,
  ) {
    super(message);
  }
}

let loaded: OrtModule | undefined;

/** Loads onnxruntime-node once; throws OnnxRuntimeUnavailable saying why it cannot. */
export function loadOnnxRuntime(): OrtModule {
  if (loaded) return loaded;
  try {
    loaded = require(ONNXRUNTIME_PACKAGE) as OrtModule;
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).split('\n')[0]!.trim();
    const code = (error as { code?: unknown }).code;
    if (code === 'MODULE_NOT_FOUND' && message.includes(ONNXRUNTIME_PACKAGE)) {
      throw new OnnxRuntimeUnavailable(`${ONNXRUNTIME_PACKAGE} is not installed`, true);
    }
    throw new OnnxRuntimeUnavailable(`${ONNXRUNTIME_PACKAGE} failed to load: ${message}`, false);
  }
  return loaded;
}

/** Whether onnxruntime-node loads here (tests skip without it). */
export function onnxRuntimeAvailable(): boolean {
  try {
    loadOnnxRuntime();
    return true;
  } catch (error) {
    if (error instanceof OnnxRuntimeUnavailable) return false;
    throw error;
  }
}

/** The provider P2PHD_ONNXRUNTIME_PROVIDER asks for (default cpu); exit 2 for another value. */
export function requestedOnnxRuntimeProvider(): OnnxRuntimeProvider {
  const raw = process.env['P2PHD_ONNXRUNTIME_PROVIDER'];
  if (raw === undefined || raw === '') return 'cpu';
  if (!(ONNXRUNTIME_PROVIDERS as readonly string[]).includes(raw)) {
    throw new UsageError(`P2PHD_ONNXRUNTIME_PROVIDER=${raw}: expected one of ${ONNXRUNTIME_PROVIDERS.join(', ')}`);
  }
  return raw as OnnxRuntimeProvider;
}

/** One line for the backend log: package version and provider. */
export function describeOnnxRuntime(provider: OnnxRuntimeProvider): string {
  const ort = loadOnnxRuntime();
  const version = ort.env.versions['node'] ?? ort.env.versions['common'] ?? 'unknown version';
  return `${ONNXRUNTIME_PACKAGE} ${version}, ${provider === 'cuda' ? 'CUDA execution provider' : 'CPU execution provider (MLAS)'}`;
}

/** A float32 NCHW tensor crossing into or out of a graph. */
export interface GraphTensor {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** A loaded graph with one input and one output. */
export interface GraphSession {
  readonly inputName: string;
  readonly outputName: string;
  run(input: GraphTensor): Promise<GraphTensor>;
  release(): Promise<void>;
}

/**
 * A session over an ONNX model held in memory, on `provider`. The CUDA
 * provider is tried only when asked for; when it cannot be created (not
 * installed: ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install) the message says
 * so, exit 2.
 */
export async function createGraphSession(model: Uint8Array, provider: OnnxRuntimeProvider = requestedOnnxRuntimeProvider()): Promise<GraphSession> {
  const ort = loadOnnxRuntime();
  let session: OrtSession;
  try {
    session = await ort.InferenceSession.create(model, {
      executionProviders: provider === 'cuda' ? ['cuda'] : ['cpu'],
      graphOptimizationLevel: 'all',
      // Errors only: ONNX Runtime's warnings (e.g. about unused initializers) are not the user's business.
      logSeverityLevel: 3,
    });
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).split('\n')[0]!.trim();
    if (provider === 'cuda') {
      throw new UsageError(
        `P2PHD_ONNXRUNTIME_PROVIDER=cuda: ONNX Runtime could not start its CUDA provider (${message}); install it with ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install (CUDA 12 and cuDNN 9 needed; docs/backends.md)`,
      );
    }
    throw error;
  }
  if (session.inputNames.length !== 1 || session.outputNames.length !== 1) {
    await session.release();
    throw new Error(`onnxruntime: expected a graph with one input and one output, got ${session.inputNames.length} and ${session.outputNames.length}`);
  }
  const inputName = session.inputNames[0]!;
  const outputName = session.outputNames[0]!;
  return {
    inputName,
    outputName,
    async run(input: GraphTensor): Promise<GraphTensor> {
      const feed = new ort.Tensor('float32', input.data, input.dims);
      const results = await session.run({ [inputName]: feed });
      const output = results[outputName]!;
      if (output.type !== 'float32' || !(output.data instanceof Float32Array)) {
        throw new Error(`onnxruntime: output ${outputName} is ${output.type}, expected float32`);
      }
      return { data: output.data, dims: [...output.dims] };
    },
    release: () => session.release(),
  };
}
