/**
 * `p2phd export CKPT --format pytorch|onnx --out PATH`: a p2phd checkpoint
 * for other engines. pytorch: the reference's latest_net_*.pth + opt.txt in
 * a folder (src/families/pix2pixhd/referenceCheckpoint.ts); onnx: one network as an ONNX
 * graph (src/synthesis/onnxExport.ts).
 */
import { Option, type Command } from 'commander';
import { UsageError } from '../errors.js';
import { action, addCommonOptions } from './common.js';

export const EXPORT_FORMATS = Object.freeze({
  pytorch: "a folder with latest_net_G.pth (+ D, + E) and opt.txt, as the reference's train.py leaves them",
  onnx: 'one network (--network G or E) as an ONNX graph with dynamic height and width',
} as const);
export type ExportFormat = keyof typeof EXPORT_FORMATS;

interface ExportFlags {
  format?: ExportFormat;
  out: string;
  network?: 'G' | 'E';
  eval: boolean;
}

/** The checkpoint when its metadata says pix2pix (read whole then); undefined for pix2pixHD ones. */
async function readPix2pixCheckpointIfAny(path: string): Promise<import('../families/pix2pix/checkpoint.js').Pix2pixCheckpoint | undefined> {
  const [{ resolveCheckpointPath }, { readTensorFile, readTensorFileHeader }, { isPix2pixMetadata, pix2pixCheckpointFromFile }] = await Promise.all([
    import('../families/checkpoint.js'),
    import('../data/files/tensorFile.js'),
    import('../families/pix2pix/checkpoint.js'),
  ]);
  const source = await resolveCheckpointPath(path);
  if (source === '-') return undefined;
  const header = await readTensorFileHeader(source, 'checkpoint');
  if (!isPix2pixMetadata(header.p2phd)) return undefined;
  return pix2pixCheckpointFromFile(await readTensorFile(source, 'checkpoint'));
}

export function registerExport(program: Command): void {
  addCommonOptions(
    program
      .command('export')
      .description('a p2phd checkpoint -> PyTorch pix2pixHD files or ONNX')
      .argument('<checkpoint>', 'a p2phd checkpoint (a run folder means its latest.safetensors)')
      .addOption(new Option('--format <format>', Object.entries(EXPORT_FORMATS).map(([name, what]) => `${name}: ${what}`).join('; ')).choices(Object.keys(EXPORT_FORMATS)))
      .requiredOption('--out <path>', 'pytorch: the folder to write; onnx: the .onnx file')
      .addOption(new Option('--network <net>', 'onnx: the generator G (default) or the encoder E').choices(['G', 'E']))
      .option('--eval', 'onnx, pix2pix: batch norm on running statistics (synthesize --eval) instead of the image\'s own (synthesize --dropout off, the default)', false),
  ).action(
    action<ExportFlags>(async (flags, context, args) => {
      const checkpoint = args[0]!;
      if (flags.format === undefined) throw new UsageError(`--format is required: one of ${Object.keys(EXPORT_FORMATS).join(', ')}`);
      const pix2pixCheckpoint = await readPix2pixCheckpointIfAny(checkpoint);
      if (pix2pixCheckpoint !== undefined) {
        if (flags.format === 'pytorch') {
          if (flags.network !== undefined) throw new UsageError('--network applies to --format onnx only (pytorch writes every network the checkpoint holds)');
          if (flags.eval) throw new UsageError('--eval applies to --format onnx (a .pth holds every statistic)');
          const { exportPix2pix } = await import('../families/pix2pix/referenceFiles.js');
          const exported = await exportPix2pix(pix2pixCheckpoint, flags.out);
          for (const file of exported.files) context.log.info(`wrote ${file}`);
          context.log.info(`the reference's test.py rebuilds these networks with: ${exported.flags.join(' ')}`);
          context.emitJson({ format: flags.format, family: 'pix2pix', files: exported.files, reference_flags: exported.flags });
          return;
        }
        if (flags.network === 'E') throw new UsageError('--network E: pix2pix has no encoder');
        const { exportPix2pixOnnx } = await import('../synthesis/pix2pixOnnx.js');
        const mode = await exportPix2pixOnnx(pix2pixCheckpoint, flags.out, flags.eval ? 'eval' : 'no-dropout');
        context.log.info(`wrote ${flags.out}: G with test mode ${mode}`);
        context.emitJson({ format: flags.format, family: 'pix2pix', files: [flags.out], test_mode: mode });
        return;
      }
      if (flags.eval) throw new UsageError('--eval applies to pix2pix checkpoints exported as onnx');
      if (flags.format === 'pytorch') {
        if (flags.network !== undefined) throw new UsageError('--network applies to --format onnx only (pytorch writes every network the checkpoint holds)');
        const { exportReferenceCheckpoint } = await import('../families/pix2pixhd/referenceCheckpoint.js');
        const exported = await exportReferenceCheckpoint(checkpoint, flags.out);
        for (const file of exported.files) context.log.info(`wrote ${file}`);
        context.log.info(`the reference's test.py rebuilds these networks with: ${exported.flags.join(' ')}`);
        context.emitJson({ format: flags.format, files: exported.files, reference_flags: exported.flags });
        return;
      }
      const { exportOnnx } = await import('../synthesis/onnxExport.js');
      await exportOnnx({ checkpoint, out: flags.out, network: flags.network ?? 'G' });
      context.emitJson({ format: flags.format, files: [flags.out] });
    }, (flags, args) => ({
      // pytorch writes a folder of files; onnx one file.
      output: { flag: '--out', path: flags.out, kind: flags.format === 'pytorch' ? 'folder' : 'file' },
      inputs: [{ flag: '<checkpoint>', path: args[0], kind: 'checkpoint' }],
    })),
  );
}
