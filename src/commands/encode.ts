import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { action, addCommonOptions, checkStdoutFree } from './common.js';
import { parseShard, type Shard } from '../flagValues.js';

interface EncodeFlags {
  data: string;
  checkpoint: string;
  out?: string;
  maps?: string;
  shard?: Shard;
}

export function registerEncode(program: Command): void {
  addCommonOptions(
    program
      .command('encode')
      .description('run a trained encoder E over samples -> per-instance features')
      .requiredOption('--data <dir>', 'sample files (from preprocess, with photos and instance maps)')
      .requiredOption('--checkpoint <file|dir>', 'checkpoint with an encoder (trained with --instance-feat); a run folder means its latest.safetensors')
      .option('--out <file>', 'features file to write ("-" = stdout, e.g. piped into p2phd cluster --features -)')
      .option('--maps <dir>', 'also write each sample\'s feature map (E\'s output pooled per instance) under the sample\'s name, for train --load-features')
      .option('--shard <index/count>', 'take every COUNT-th sample from INDEX (0-based); merge the shards with p2phd cluster', parseShard),
  ).action(
    action<EncodeFlags>(async (flags, context) => {
      if (flags.out === undefined && flags.maps === undefined) throw new UsageError('encode needs --out (a features file) or --maps (a folder of feature maps), or both');
      if (flags.out !== undefined) checkStdoutFree(flags.out, context.common.json, 'features');
      const { runEncodeStage } = await import('../synthesis/encodeStage.js');
      const { inferenceEngineOf } = await import('../backend/index.js');
      const engine = inferenceEngineOf(await context.useBackend({ inference: true }));
      const summary = await runEncodeStage(
        {
          engine,
          data: flags.data,
          checkpoint: flags.checkpoint,
          ...(flags.out !== undefined ? { out: flags.out } : {}),
          ...(flags.maps !== undefined ? { maps: flags.maps } : {}),
          ...(flags.shard !== undefined ? { shard: flags.shard } : {}),
        },
        context.log,
      );
      context.emitJson(summary);
    }, (flags) => ({
      output: [
        { flag: '--out', path: flags.out, kind: 'file' },
        { flag: '--maps', path: flags.maps, kind: 'folder' },
      ],
      inputs: [
        { flag: '--data', path: flags.data },
        { flag: '--checkpoint', path: flags.checkpoint, kind: 'checkpoint' },
      ],
    })),
  );
}
