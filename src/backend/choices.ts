/**
 * The --backend values, and which command takes which (one table). Kept
 * apart from index.ts, which loads tfjs, so that the CLI can declare and
 * check the flag without paying for tfjs on `--help`.
 *
 * `onnxruntime` runs inference only (synthesize, encode, edit): G and E as
 * ONNX graphs in ONNX Runtime. Every other command refuses it while parsing its
 * flags (exit 2), before any work: `demo --backend onnxruntime` used to
 * fail at its third stage after writing files that then blocked a rerun.
 * Commands that compute nothing on a backend (preprocess, cluster, inspect,
 * report, import, export, doctor) take the tfjs backends' names, as the
 * contract gives every command --backend, and ignore them.
 */
export const BACKEND_CHOICES = Object.freeze(['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu', 'onnxruntime'] as const);
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** The tfjs backends: everything that trains (gradients) runs on one of these. */
const TFJS_BACKENDS: readonly BackendChoice[] = Object.freeze(['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu']);
/** Forward passes only: the tfjs backends and ONNX Runtime. */
const INFERENCE_BACKENDS: readonly BackendChoice[] = BACKEND_CHOICES;

/** Which --backend values each command (by its top-level name) takes. */
export const COMMAND_BACKENDS: Readonly<Record<string, readonly BackendChoice[]>> = Object.freeze({
  preprocess: TFJS_BACKENDS,
  train: TFJS_BACKENDS,
  encode: INFERENCE_BACKENDS,
  cluster: TFJS_BACKENDS,
  synthesize: INFERENCE_BACKENDS,
  inspect: TFJS_BACKENDS,
  report: TFJS_BACKENDS,
  demo: TFJS_BACKENDS,
  import: TFJS_BACKENDS,
  export: TFJS_BACKENDS,
  doctor: TFJS_BACKENDS,
  edit: INFERENCE_BACKENDS,
});

/** The commands that take `choice`, for messages. */
export function commandsTaking(choice: BackendChoice): string[] {
  return Object.keys(COMMAND_BACKENDS).filter((command) => COMMAND_BACKENDS[command]!.includes(choice));
}

/**
 * The --backend values `command` takes. A command missing from the table
 * (test/audit/newUser.test.ts checks that none is) gets the tfjs backends,
 * so a new command cannot take onnxruntime by accident.
 */
export function backendChoicesFor(command: string): readonly BackendChoice[] {
  return COMMAND_BACKENDS[command] ?? TFJS_BACKENDS;
}

/** Why `command` does not take `value` as --backend, or undefined when it does. */
export function backendRefusal(command: string, value: string): string | undefined {
  const allowed = backendChoicesFor(command);
  if ((allowed as readonly string[]).includes(value)) return undefined;
  const here = `${command} takes ${allowed.join(', ')}`;
  if ((BACKEND_CHOICES as readonly string[]).includes(value)) {
    const takers = commandsTaking(value as BackendChoice);
    const list = takers.length > 1 ? `${takers.slice(0, -1).join(', ')} and ${takers[takers.length - 1]!}` : takers.join('');
    return `${value} is for ${list} only (it runs networks forward, without gradients); ${here}`;
  }
  return `${here}`;
}
