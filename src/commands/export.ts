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
}

export function registerExport(program: Command): void {
  addCommonOptions(
    program
      .command('export')
      .description('a p2phd checkpoint -> PyTorch pix2pixHD files or ONNX')
      .argument('<checkpoint>', 'a p2phd checkpoint (a run folder means its latest.safetensors)')
      .addOption(new Option('--format <format>', Object.entries(EXPORT_FORMATS).map(([name, what]) => `${name}: ${what}`).join('; ')).choices(Object.keys(EXPORT_FORMATS)))
      .requiredOption('--out <path>', 'pytorch: the folder to write; onnx: the .onnx file')
      .addOption(new Option('--network <net>', 'onnx: the generator G (default) or the encoder E').choices(['G', 'E'])),
  ).action(
    action<ExportFlags>(async (flags, context, args) => {
      const checkpoint = args[0]!;
      if (flags.format === undefined) throw new UsageError(`--format is required: one of ${Object.keys(EXPORT_FORMATS).join(', ')}`);
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
    }),
  );
}
