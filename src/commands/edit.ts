/**
 * `p2phd edit`: the interactive semantic-manipulation editor, served on
 * loopback. Thin: flags -> one config -> src/editor (loaded only when the
 * command runs, so --help stays instant). Runs until SIGINT/SIGTERM, which
 * end it through the CLI's signal handlers (exit 130/143, temporary files
 * removed).
 */
import { spawn } from 'node:child_process';
import { Option, type Command } from 'commander';
import { action, addCommonOptions } from './common.js';
import { integerFlag } from '../flagValues.js';
import { UsageError } from '../errors.js';

interface EditFlags {
  checkpoint: string;
  clusters?: string;
  labels?: string;
  instances?: string;
  data?: string;
  out: string;
  port: number;
  bind?: string;
  classNames?: string;
  open: boolean;
  image?: string;
  aligned: boolean;
  direction?: 'AtoB' | 'BtoA';
  eval: boolean;
  dropout?: 'on' | 'off';
}

/** The address bound unless --bind says otherwise. */
export const LOOPBACK = '127.0.0.1';

/** Opens `url` in the desktop's browser; failures only cost the convenience. */
function openBrowser(url: string): void {
  const [command, args] = process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '', url]] : ['xdg-open', [url]];
  try {
    const child = spawn(command, args as string[], { stdio: 'ignore', detached: true });
    child.on('error', () => undefined);
    child.unref();
  } catch {
    // No browser opener here: the URL is printed.
  }
}

export function registerEdit(program: Command): void {
  addCommonOptions(
    program
      .command('edit')
      .description('edit a label map (pix2pix: paint the A image) in the browser and watch the output follow (local server on 127.0.0.1)')
      .requiredOption('--checkpoint <file|dir>', 'checkpoint (a run folder means its latest.safetensors)')
      .option('--clusters <file>', 'style centres from p2phd cluster (models trained with --instance-feat)')
      .option('--labels <glob|file>', 'the label map PNG to edit (class ids)')
      .option('--instances <glob|file>', 'its instance map PNG')
      .option('--data <dir|file>', 'a sample file (from preprocess; pix2pix: preprocess --aligned) instead of --labels')
      .option('--image <file>', 'pix2pix checkpoints: the A image to paint (network input)')
      .option('--aligned', 'pix2pix: --image is an A|B file (A left, B right): B is shown as the real image', false)
      .addOption(new Option('--direction <dir>', 'pix2pix with --aligned: which half is the input (default: the checkpoint\'s --direction)').choices(['AtoB', 'BtoA']))
      .option('--eval', 'pix2pix: running batch-norm statistics, no dropout (synthesize --eval)', false)
      .addOption(new Option('--dropout <on|off>', 'pix2pix: off (default here) gives batch statistics without dropout; on is the reference\'s test mode, masks seeded by --seed (synthesize --dropout on)').choices(['on', 'off']))
      .option('--class-names <file>', 'class names, one per line from id 0; a leading * marks classes with objects (default: Cityscapes for label_nc 35)')
      .requiredOption('--out <dir>', 'where saves go: <name>_gtFine_labelIds.png, <name>_gtFine_instanceIds.png, <name>_styles.json, <name>.png (pix2pix: <name>_A.png, <name>.png)')
      .option('--port <n>', 'port (0: a free one)', integerFlag('--port', 0, 65535), 0)
      .option('--bind <address>', `address to listen on (default ${LOOPBACK}; anything else exposes the editor beyond this machine)`)
      .option('--no-open', 'do not open a browser'),
  ).action(
    action<EditFlags>(async (flags, context) => {
      const { inputSourceFromFlags } = await import('../synthesis/inputs.js');
      if (flags.image !== undefined && (flags.labels !== undefined || flags.data !== undefined)) throw new UsageError('--image (pix2pix) and --labels / --data exclude each other');
      if (flags.eval && flags.dropout === 'on') throw new UsageError('--eval turns dropout off; --dropout on contradicts it');
      if (flags.aligned && flags.image === undefined) throw new UsageError('--aligned says --image is an A|B file: it needs --image');
      if (flags.direction !== undefined && !flags.aligned) throw new UsageError('--direction picks the input half of A|B files: it needs --aligned');
      const inputs = flags.image !== undefined ? undefined : inputSourceFromFlags(flags);
      const host = flags.bind ?? LOOPBACK;
      if (host === '0.0.0.0' || host === '::' || host === '[::]') {
        throw new UsageError(`--bind ${host}: name one address (the editor checks that requests name it in their Host header)`);
      }
      if (host !== LOOPBACK) context.log.warn(`--bind ${host}: the editor is reachable at this address, beyond 127.0.0.1; anyone who gets the token can edit and save`);
      const [{ startEditor }, { wasmThreadsPerCore }] = await Promise.all([import('../editor/editor.js'), import('../backend/index.js')]);
      const editor = await startEditor(
        {
          checkpoint: flags.checkpoint,
          ...(inputs !== undefined ? { inputs } : {}),
          ...(flags.image !== undefined ? { image: { path: flags.image, aligned: flags.aligned, ...(flags.direction !== undefined ? { direction: flags.direction } : {}) } } : {}),
          pix2pixMode: flags.eval ? 'eval' : flags.dropout === 'on' ? 'reference' : 'no-dropout',
          out: flags.out,
          host,
          port: flags.port,
          backend: context.common.backend,
          wasmThreads: wasmThreadsPerCore(),
          seed: context.seed,
          ...(flags.clusters !== undefined ? { clusters: flags.clusters } : {}),
          ...(flags.classNames !== undefined ? { classNames: flags.classNames } : {}),
        },
        context.log,
      );
      // The URL carries the token: it goes to stdout for the user, never into the log.
      if (context.common.json) context.emitJson({ url: editor.url });
      else process.stdout.write(`p2phd edit: open ${editor.url}\n(Ctrl+C stops the editor)\n`);
      if (flags.open) openBrowser(editor.url);
      // The server keeps the process alive until a signal ends it (or the inference thread dies: exit 1).
      await editor.failure;
    }, (flags) => ({
      output: { flag: '--out', path: flags.out, kind: 'folder' },
      inputs: [
        { flag: '--checkpoint', path: flags.checkpoint, kind: 'checkpoint' },
        { flag: '--labels', path: flags.labels },
        { flag: '--instances', path: flags.instances },
        { flag: '--data', path: flags.data },
        { flag: '--image', path: flags.image },
        { flag: '--clusters', path: flags.clusters },
        { flag: '--class-names', path: flags.classNames },
      ],
    })),
  );
}
