/**
 * `p2phd import`: the reference's checkpoint files (latest_net_G.pth, + D,
 * + E, opt.txt) become one p2phd checkpoint (src/families/pix2pixhd/referenceCheckpoint.ts).
 */
import { Option, type Command } from 'commander';
import { UsageError } from '../errors.js';
import { action, addCommonOptions } from './common.js';

interface ImportFlags {
  netG: string;
  netD?: string;
  netE?: string;
  opt?: string;
  out: string;
  family?: 'pix2pixhd' | 'pix2pix';
  direction?: 'AtoB' | 'BtoA';
}

export function registerImport(program: Command): void {
  addCommonOptions(
    program
      .command('import')
      .description("a PyTorch pix2pixHD or pix2pix checkpoint (.pth files + opt.txt / train_opt.txt) -> a p2phd checkpoint")
      .requiredOption('--netG <file>', "the reference's latest_net_G.pth (global or local generator)")
      .option('--netD <file>', 'its latest_net_D.pth (to continue training with the same discriminators)')
      .option('--netE <file>', 'its latest_net_E.pth (--instance_feat models: for encode and --use-encoded)')
      .option('--opt <file>', "the opt.txt the reference's train.py wrote beside them; without it the architecture is inferred from the shapes")
      .requiredOption('--out <file>', 'the p2phd checkpoint to write (.safetensors)')
      .addOption(new Option('--family <name>', 'pix2pixhd (NVIDIA/pix2pixHD) or pix2pix (pytorch-CycleGAN-and-pix2pix); default: told by the options file\'s model, else by the generator\'s keys').choices(['pix2pixhd', 'pix2pix']))
      .addOption(new Option('--direction <dir>', 'pix2pix: the direction the model was trained in (default: train_opt.txt\'s, else AtoB)').choices(['AtoB', 'BtoA']))
      .addHelpText('after', `
Loading never runs code from the files: only tensors, the few PyTorch types a
state_dict needs and storages are accepted; any other global in a pickle is
refused (exit 3), as torch.load(weights_only=True) does. Both torch.save
formats are read (zip, PyTorch >= 1.6, and the legacy one).`),
  ).action(
    action<ImportFlags>(async (flags, context) => {
      const pix2pixFiles = { netG: flags.netG, ...(flags.netD ? { netD: flags.netD } : {}), ...(flags.opt ? { opt: flags.opt } : {}) };
      const { importPix2pix, isPix2pixReference } = await import('../families/pix2pix/referenceFiles.js');
      const family = flags.family ?? (flags.netE === undefined && (await isPix2pixReference(pix2pixFiles)) ? 'pix2pix' : 'pix2pixhd');
      if (family === 'pix2pix') {
        if (flags.netE !== undefined) throw new UsageError('--netE: pix2pix has no encoder (that is pix2pixHD\'s --instance_feat)');
        const result = await importPix2pix(pix2pixFiles, flags.out, flags.direction ? { direction: flags.direction } : {});
        for (const note of result.notes) context.log.info(note);
        context.log.info(`${result.out}: pix2pix ${result.networks.join('+')} (${result.tensors} tensors), netG ${result.config.netG} ngf ${result.config.ngf}, norm ${result.config.norm}, direction ${result.direction}`);
        context.emitJson({ out: result.out, family, networks: result.networks, tensors: result.tensors, config: result.config, direction: result.direction, notes: result.notes });
        return;
      }
      if (flags.direction !== undefined) throw new UsageError('--direction applies to pix2pix checkpoints');
      const { importReferenceCheckpoint } = await import('../families/pix2pixhd/referenceCheckpoint.js');
      const { netG, netD, netE, opt, out } = flags;
      const imported = await importReferenceCheckpoint({ netG, ...(netD ? { netD } : {}), ...(netE ? { netE } : {}), ...(opt ? { opt } : {}) }, out);
      for (const note of imported.notes) context.log.info(note);
      const { meta, networks, tensors } = imported.checkpoint;
      context.log.info(`${out}: ${networks.join('+')} (${tensors.size} tensors), stage ${meta.stage}, netG ${meta.config.netG} ngf ${meta.config.ngf}, label_nc ${meta.config.label_nc}`);
      context.emitJson({ out, stage: meta.stage, networks, tensors: tensors.size, config: meta.config, notes: imported.notes });
    }, (flags) => ({
      output: { flag: '--out', path: flags.out, kind: 'file' },
      inputs: [
        { flag: '--netG', path: flags.netG },
        { flag: '--netD', path: flags.netD },
        { flag: '--netE', path: flags.netE },
        { flag: '--opt', path: flags.opt },
      ],
    })),
  );
}
