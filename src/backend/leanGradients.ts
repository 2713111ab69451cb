/**
 * Reverse-mode differentiation that frees as it goes: tf.variableGrads with
 * the same forward recording and the same gradient functions, but its own
 * backward walk over the recorded operations.
 *
 * tfjs's own walk (engine.gradients) keeps every gradient it computes, and
 * every tensor an operation saved for its gradient, until the whole backward
 * pass ends; for pix2pixHD's step that is about four times the forward
 * layer outputs at the peak. This walk visits the same operations in the
 * same (reverse) order and calls the same gradient functions with the same
 * inputs, and sums a tensor's gradient contributions in the same order
 * (`add(accumulated, new)`), so every gradient has the same bits; what it
 * changes is only when tensors are freed:
 * - once an operation's gradient has been taken, the tensors it saved for
 *   it are freed, and so are the gradients of its outputs (every consumer
 *   of an output comes later in the recording, so has been visited);
 * - a contribution is freed once it has been added to the running sum;
 * - the saved tensors of operations that do not lie between the variables
 *   and the result are freed before the walk starts.
 * At its peak the step then holds what the forward pass saved plus a few
 * gradients at the frontier, instead of everything at once.
 *
 * It reads tfjs-core's engine internals (the active tape and its nodes), as
 * gradients.ts reads its module layout: tfjs-core is pinned to 4.22.0.
 */
import * as tf from '@tensorflow/tfjs-core';
import { copyValuesInto } from './buffers.js';

/** One recorded operation (tfjs-core's TapeNode). */
interface TapeNode {
  readonly id: number;
  readonly kernelName: string;
  inputs: Record<string, tf.Tensor>;
  readonly outputs: tf.Tensor[];
  readonly saved?: tf.Tensor[];
  readonly gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>;
}

/** The part of tfjs-core's Engine this module drives. */
interface EngineInternals {
  state: { activeTape: TapeNode[] | null | undefined; gradientDepth: number };
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(name: string, fn: () => T): T;
}

function engineInternals(): EngineInternals {
  const engine = tf.engine() as unknown as Partial<EngineInternals>;
  if (typeof engine.startTape !== 'function' || typeof engine.endTape !== 'function' || engine.state === undefined) {
    throw new Error('leanVariableGrads: tfjs-core engine internals changed (startTape/endTape/state not found)');
  }
  return engine as EngineInternals;
}

/** A saved tensor's data waiting outside the tensor heap, and the tape slots that saved it. */
interface OffloadedData {
  readonly values: Float32Array;
  readonly shape: number[];
  /** Slots not yet restored; the restored tensor is freed when the last one has its clone. */
  holders: number;
  restored?: tf.Tensor;
}

/**
 * Room beyond the wasm heap (4 GiB): during a lean pass's forward pass, a
 * large tensor saved for the backward pass is copied out of the heap into
 * an ordinary array as soon as the forward pass has let go of it (only the
 * tape's saved slots still hold it), and copied back just before the walk
 * reaches the operation that saved it. The heap then holds the working set
 * (weights, a layer's input and output, the gradient frontier) and the rest
 * waits in process memory. The copies are exact, so the gradients keep
 * their bits. The arrays are pooled by length and reused step after step
 * (a fresh array costs a page fault per 4 KB and leaves the old one to the
 * garbage collector): the pool's size is the most a step ever offloaded.
 * wasm only: the other backends' tensors either live in process memory
 * already (cpu, tensorflow) or would cost a device round trip (webgpu).
 */
export class SavedTensorOffload {
  private readonly pool = new Map<number, Float32Array[]>();
  /** Bytes in the pool's arrays (in use or free): what offloading adds to the process's memory. */
  poolBytes = 0;
  /** The most bytes out of the heap at once in the last pass. */
  lastPeakBytes = 0;
  private outBytes = 0;

  /** Tensors smaller than `minBytes` stay in the heap (copying them would save little). */
  constructor(readonly minBytes = 4 * 2 ** 20) {}

  /** An array of `length` floats from the pool, or a new one. */
  take(length: number): Float32Array {
    const free = this.pool.get(length)?.pop();
    this.outBytes += 4 * length;
    this.lastPeakBytes = Math.max(this.lastPeakBytes, this.outBytes);
    if (free !== undefined) return free;
    this.poolBytes += 4 * length;
    return new Float32Array(length);
  }

  /** Back to the pool (its contents are no longer needed). */
  give(array: Float32Array): void {
    this.outBytes -= 4 * array.length;
    const free = this.pool.get(array.length);
    if (free === undefined) this.pool.set(array.length, [array]);
    else free.push(array);
  }

  beginPass(): void {
    if (tf.getBackend() !== 'wasm') throw new Error(`SavedTensorOffload: the ${tf.getBackend()} backend has no heap to leave (wasm only)`);
    this.outBytes = 0;
    this.lastPeakBytes = 0;
  }

  /** Lets the pool's arrays go (after the last step). */
  clear(): void {
    this.pool.clear();
    this.poolBytes = 0;
  }
}

/**
 * What a lean pass does while the forward pass is recorded (outer passes
 * only): frees at once what operations off the gradient's path saved (a
 * frozen network's activations: they would never be used), and offloads
 * large saved tensors the forward pass no longer holds.
 */
class ForwardRecorder {
  private readonly fromX: Set<number>;
  /** Saved tensors that may be offloaded once nothing else holds their data: by data id, each slot that saved it. */
  private readonly pending = new Map<object, Array<{ slots: Array<tf.Tensor | null>; index: number }>>();
  /** Offloaded slots: by the node's saved array, slot index -> data. */
  readonly offloaded = new Map<Array<tf.Tensor | null>, Map<number, OffloadedData>>();

  constructor(xs: readonly tf.Tensor[], private readonly offload: SavedTensorOffload | undefined) {
    this.fromX = new Set(xs.map((x) => x.id));
  }

  /** The tape array to hand the engine: its push records each node through `record`. */
  tape(): TapeNode[] {
    const nodes: TapeNode[] = [];
    nodes.push = (...added: TapeNode[]): number => {
      const length = Array.prototype.push.apply(nodes, added);
      for (const node of added) this.record(node);
      return length;
    };
    return nodes;
  }

  private record(node: TapeNode): void {
    if (!Object.values(node.inputs).some((input) => this.fromX.has(input.id))) {
      // Not downstream of xs: its gradient is never taken (nodesBetween leaves it out).
      tf.dispose(node.saved ?? []);
      return;
    }
    for (const output of node.outputs) this.fromX.add(output.id);
    if (this.offload === undefined || node.saved === undefined) return;
    const slots = node.saved as Array<tf.Tensor | null>;
    slots.forEach((tensor, index) => {
      if (tensor === null || tensor.dtype !== 'float32' || 4 * tensor.size < this.offload!.minBytes) return;
      const entries = this.pending.get(tensor.dataId);
      if (entries === undefined) this.pending.set(tensor.dataId, [{ slots, index }]);
      else entries.push({ slots, index });
    });
    this.offloadReleased();
  }

  /** Offloads every pending tensor whose data only saved slots hold now. */
  offloadReleased(): void {
    if (this.offload === undefined) return;
    const backend = tf.backend();
    for (const [dataId, entries] of this.pending) {
      if (backend.refCount(dataId) !== entries.length) continue;
      this.pending.delete(dataId);
      const first = entries[0]!;
      const tensor = first.slots[first.index]!;
      const data: OffloadedData = { values: copyValuesInto(tensor, this.offload.take(tensor.size)), shape: tensor.shape.slice(), holders: entries.length };
      for (const { slots, index } of entries) {
        slots[index]!.dispose();
        slots[index] = null;
        let bySlot = this.offloaded.get(slots);
        if (bySlot === undefined) this.offloaded.set(slots, (bySlot = new Map()));
        bySlot.set(index, data);
      }
    }
  }

  /** Puts back what `node` saved, before its gradient is taken. */
  restore(node: TapeNode): void {
    const bySlot = node.saved === undefined ? undefined : this.offloaded.get(node.saved as Array<tf.Tensor | null>);
    if (bySlot === undefined) return;
    const slots = node.saved as Array<tf.Tensor | null>;
    for (const [index, data] of bySlot) {
      if (data.restored === undefined) {
        // wasm copies the values into its heap: the array is free again at once.
        data.restored = tf.tensor(data.values, data.shape, 'float32');
        this.offload!.give(data.values);
      }
      slots[index] = data.restored.clone();
      if (--data.holders === 0) data.restored.dispose();
    }
    this.offloaded.delete(slots);
  }

  /** Frees what was never restored (an error, or a slot off the path). */
  dispose(): void {
    const seen = new Set<OffloadedData>();
    for (const bySlot of this.offloaded.values()) {
      for (const data of bySlot.values()) {
        if (seen.has(data)) continue;
        seen.add(data);
        if (data.restored === undefined) this.offload!.give(data.values);
        else data.restored.dispose();
      }
    }
    this.offloaded.clear();
    this.pending.clear();
  }
}

/**
 * The operations on a path from `xs` to `y`, each with only its inputs
 * that come from `xs` (the inputs that need a gradient): the same selection
 * tfjs's backward pass makes.
 */
function nodesBetween(tape: readonly TapeNode[], xs: readonly tf.Tensor[], y: tf.Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodeFromX = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((input) => fromX.has(input.id))) {
      nodeFromX.add(node.id);
      for (const output of node.outputs) fromX.add(output.id);
    }
  }
  const toY = new Set<number>([y.id]);
  const nodeToY = new Set<number>();
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i]!;
    if (node.outputs.some((output) => toY.has(output.id))) {
      nodeToY.add(node.id);
      for (const input of Object.values(node.inputs)) toY.add(input.id);
    }
  }
  const kept: TapeNode[] = [];
  for (const node of tape) {
    if (!nodeFromX.has(node.id) || !nodeToY.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, input] of Object.entries(node.inputs)) if (fromX.has(input.id)) inputs[name] = input;
    kept.push({ ...node, inputs });
  }
  return kept;
}

/** Tensor bytes (tf.memory().numBytes) of the last lean pass: at the end of its forward pass, and the most during its backward walk. */
export interface LeanPassMemory {
  forwardBytes: number;
  backwardPeakBytes: number;
}

const lastPass: LeanPassMemory = { forwardBytes: 0, backwardPeakBytes: 0 };

/** What the last leanVariableGrads held (for the memory estimate's tests and benchmarks). */
export function lastLeanPassMemory(): Readonly<LeanPassMemory> {
  return { ...lastPass };
}

export interface LeanPassOptions {
  /** Offload large saved tensors out of the wasm heap between the forward and the backward pass (SavedTensorOffload). */
  readonly offload?: SavedTensorOffload;
}

/**
 * Gradients of each trainable tensor in `xs` (variables) of the scalar
 * `f()`, as tf.variableGrads(f, xs) would give them, bit for bit, holding
 * far fewer tensors at once (see the module comment). Returns the value and
 * the gradients by variable name (only those on a path to the value); the
 * caller owns them.
 */
export function leanVariableGrads(f: () => tf.Scalar, xs: readonly tf.Variable[], options: LeanPassOptions = {}): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const { value, gradients } = differentiate(f, xs, undefined, false, options.offload);
  if (value.rank !== 0) {
    value.dispose();
    tf.dispose(gradients.filter((g): g is tf.Tensor => g !== undefined));
    throw new Error('leanVariableGrads: f must return a scalar tensor');
  }
  const grads: Record<string, tf.Tensor> = {};
  xs.forEach((x, i) => {
    const gradient = gradients[i];
    if (gradient !== undefined) grads[x.name] = gradient;
  });
  return { value: value as tf.Scalar, grads };
}

/**
 * Runs `f()` on the tape and walks it back from `dy` (ones when undefined):
 * the value and each of `xs`'s gradients (undefined off the path).
 */
function differentiate(
  f: () => tf.Tensor,
  xs: readonly tf.Tensor[],
  dy: tf.Tensor | undefined,
  recompute = false,
  offload?: SavedTensorOffload,
): { value: tf.Tensor; gradients: Array<tf.Tensor | undefined> } {
  const engine = engineInternals();
  const outer = engine.state.gradientDepth === 0;
  if (recompute && engine.state.activeTape != null) {
    // tfjs's own backward pass is running (the tape schedule): a tape started now would replace its own.
    throw new Error('a checkpointed segment recomputes on a tape of its own: it needs the lean schedule');
  }
  engine.startTape();
  // Only the outermost pass owns the tape (a nested one records onto it).
  const recorder = outer ? new ForwardRecorder(xs, offload) : undefined;
  if (recorder !== undefined) {
    offload?.beginPass();
    engine.state.activeTape = recorder.tape();
  }
  let y: tf.Tensor;
  let tape: TapeNode[];
  try {
    y = engine.tidy('forward', f);
    // The forward pass's own tensors are gone now: what only the tape holds can leave the heap.
    recorder?.offloadReleased();
  } catch (error) {
    recorder?.dispose();
    throw error;
  } finally {
    engine.endTape();
    tape = engine.state.activeTape ?? [];
  }
  // A nested differentiation (inside another gradient) leaves the outer tape to its owner.
  if (outer) engine.state.activeTape = null;
  if (!(y instanceof tf.Tensor)) throw new Error('leanVariableGrads: f must return a tensor');
  const path = nodesBetween(tape, xs, y);
  const onPath = new Set(path.map((node) => node.id));
  // What operations off the path saved can never be used.
  if (outer) for (const node of tape) if (!onPath.has(node.id)) tf.dispose(node.saved ?? []);

  const requested = new Set(xs.map((x) => x.id));
  // Gradient by tensor id; `holders` counts the entries that hold each
  // gradient tensor (a gradient function may hand back its own dy).
  const gradients = new Map<number, tf.Tensor>();
  const holders = new Map<tf.Tensor, number>();
  const hold = (id: number, gradient: tf.Tensor): void => {
    gradients.set(id, gradient);
    holders.set(gradient, (holders.get(gradient) ?? 0) + 1);
  };
  const release = (id: number): void => {
    const gradient = gradients.get(id);
    if (gradient === undefined) return;
    gradients.delete(id);
    const count = (holders.get(gradient) ?? 1) - 1;
    if (count > 0) holders.set(gradient, count);
    else {
      holders.delete(gradient);
      gradient.dispose();
    }
  };
  if (outer && dy === undefined) {
    lastPass.forwardBytes = tf.memory().numBytes;
    lastPass.backwardPeakBytes = lastPass.forwardBytes;
  }
  try {
    hold(y.id, dy === undefined ? tf.ones(y.shape) : dy.clone());
    for (let i = path.length - 1; i >= 0; i--) {
      const node = path[i]!;
      if (node.gradient === undefined) throw new Error(`leanVariableGrads: no gradient function for ${node.kernelName}`);
      recorder?.restore(node);
      const dys = node.outputs.map((output) => gradients.get(output.id) ?? null);
      const names = Object.keys(node.inputs);
      const contributions = tf.tidy(() => {
        const gradientOf = node.gradient!(dys);
        return names.map((name) => {
          const compute = gradientOf[name];
          if (compute === undefined) throw new Error(`leanVariableGrads: ${node.kernelName} gives no gradient for its input ${name}`);
          const dx = tf.tidy(() => compute());
          const input = node.inputs[name]!;
          if (dx.dtype !== 'float32' || !tf.util.arraysEqual(dx.shape, input.shape)) {
            throw new Error(`leanVariableGrads: ${node.kernelName}'s gradient for ${name} is ${dx.dtype} [${dx.shape.join(', ')}], input [${input.shape.join(', ')}]`);
          }
          return dx;
        });
      });
      lastPass.backwardPeakBytes = Math.max(lastPass.backwardPeakBytes, tf.memory().numBytes);
      names.forEach((name, k) => {
        const input = node.inputs[name]!;
        const dx = contributions[k]!;
        const accumulated = gradients.get(input.id);
        if (accumulated === undefined) {
          hold(input.id, dx);
          return;
        }
        // The same order as tfjs: the running sum first, then the new term.
        const sum = tf.add(accumulated, dx);
        release(input.id);
        if (!holders.has(dx)) dx.dispose();
        hold(input.id, sum);
      });
      // Every consumer of this node's outputs has been visited: their gradients and what the node saved are spent.
      for (const output of node.outputs) if (!requested.has(output.id)) release(output.id);
      if (outer) tf.dispose(node.saved ?? []);
    }
    const result = xs.map((x) => {
      const gradient = gradients.get(x.id);
      if (gradient === undefined) return undefined;
      // A clone shares the data: the entry's release below leaves it alive.
      const kept = gradient.clone();
      release(x.id);
      return kept;
    });
    return { value: y, gradients: result };
  } catch (error) {
    y.dispose();
    throw error;
  } finally {
    for (const id of [...gradients.keys()]) release(id);
    if (outer) for (const node of tape) tf.dispose(node.saved ?? []);
    recorder?.dispose();
  }
}

/** The part of tfjs-core's Engine that runs an op with its own gradient (what tf.customGrad uses). */
interface KernelFuncRunner {
  runKernelFunc(params: {
    forwardFunc: (backend: tf.KernelBackend, save: (tensors: tf.Tensor[]) => void) => tf.Tensor;
    backwardsFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => Record<string, () => tf.Tensor>;
    inputs: Record<string, tf.Tensor>;
  }): tf.Tensor;
}

/**
 * Gradient checkpointing: `run(x, weights)` as one operation that saves
 * only x and the weights; its backward pass runs the segment again on a
 * tape of its own and walks it back (lean schedule only). The recomputation
 * runs the same ops on the same values and its walk visits them in the same
 * order as the uncheckpointed step would, so the gradients have the same
 * bits; the segment's activations live only while its gradient is taken.
 * `run` must have no side effects (no batch-norm running statistics).
 */
export function checkpointed(x: tf.Tensor4D, weights: readonly tf.Tensor[], run: (x: tf.Tensor4D, weights: readonly tf.Tensor[]) => tf.Tensor4D): tf.Tensor4D {
  const engine = tf.engine() as unknown as KernelFuncRunner;
  const inputs: Record<string, tf.Tensor> = { x };
  weights.forEach((weight, i) => {
    inputs[`w${i}`] = weight;
  });
  return engine.runKernelFunc({
    inputs,
    forwardFunc: (_backend, save) => {
      save([x, ...weights]);
      return run(x, weights);
    },
    backwardsFunc: (dy, saved) => {
      const [savedX, ...savedWeights] = saved as [tf.Tensor4D, ...tf.Tensor[]];
      const { value, gradients } = differentiate(() => run(savedX, savedWeights), saved, dy, true);
      value.dispose();
      const map: Record<string, () => tf.Tensor> = {};
      const names = ['x', ...weights.map((_, i) => `w${i}`)];
      names.forEach((name, i) => {
        const gradient = gradients[i];
        map[name] = () => gradient ?? tf.zerosLike(saved[i]!);
      });
      return map;
    },
  }) as tf.Tensor4D;
}
