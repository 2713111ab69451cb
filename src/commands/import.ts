/**
 * `p2phd import`: the reference's checkpoint files (latest_net_G.pth, + D,
 * + E, opt.txt) become one p2phd checkpoint (src/families/pix2pixhd/referenceCheckpoint.ts).
 */
import type { Command } from 'commander';
import { action, addCommonOptions } from './common.js';

interface ImportFlags {
  netG: string;
  netD?: string;
  netE?: string;
  opt?: string;
  out: string;
}

export function registerImport(program: Command): void {
  addCommonOptions(
    program
      .command('import')
      .description("a PyTorch pix2pixHD checkpoint (.pth files + opt.txt) -> a p2phd checkpoint")
      .requiredOption('--netG <file>', "the reference's latest_net_G.pth (global or local generator)")
      .option('--netD <file>', 'its latest_net_D.pth (to continue training with the same discriminators)')
      .option('--netE <file>', 'its latest_net_E.pth (--instance_feat models: for encode and --use-encoded)')
      .option('--opt <file>', "the opt.txt the reference's train.py wrote beside them; without it the architecture is inferred from the shapes")
      .requiredOption('--out <file>', 'the p2phd checkpoint to write (.safetensors)')
      .addHelpText('after', `
Loading never runs code from the files: only tensors, the few PyTorch types a
state_dict needs and storages are accepted; any other global in a pickle is
refused (exit 3), as torch.load(weights_only=True) does. Both torch.save
formats are read (zip, PyTorch >= 1.6, and the legacy one).`),
  ).action(
    action<ImportFlags>(async (flags, context) => {
      const { importReferenceCheckpoint } = await import('../families/pix2pixhd/referenceCheckpoint.js');
      const { netG, netD, netE, opt, out } = flags;
      const imported = await importReferenceCheckpoint({ netG, ...(netD ? { netD } : {}), ...(netE ? { netE } : {}), ...(opt ? { opt } : {}) }, out);
      for (const note of imported.notes) context.log.info(note);
      const { meta, networks, tensors } = imported.checkpoint;
      context.log.info(`${out}: ${networks.join('+')} (${tensors.size} tensors), stage ${meta.stage}, netG ${meta.config.netG} ngf ${meta.config.ngf}, label_nc ${meta.config.label_nc}`);
      context.emitJson({ out, stage: meta.stage, networks, tensors: tensors.size, config: meta.config, notes: imported.notes });
    }),
  );
}
