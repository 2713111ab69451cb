/**
 * pix2pixHD's training flags: the architecture (no commander default: "not
 * given" must stay apart from "given the default", since the architecture
 * otherwise comes from --init or the resumed checkpoint; the reference's
 * defaults are shown in the help) and the losses. The loop's own flags
 * (paths, schedule, run control) are src/train/flags.ts. Free of tfjs.
 */
import { integerFlag, numberFlag } from '../../flagValues.js';
import { defaulted, optionalString, toggle, valued } from '../../flagTable.js';
import { INTEGER_BOUNDS, NORMS } from './config.js';

/** An architecture flag's parser: the range is the one config.ts allows from any source. */
function architectureFlag(flag: string, key: keyof typeof INTEGER_BOUNDS): (value: string) => number {
  return integerFlag(flag, INTEGER_BOUNDS[key].min, INTEGER_BOUNDS[key].max);
}

export const PIX2PIXHD_TRAIN_FLAGS = Object.freeze({
  // Architecture.
  ngf: valued<number>({ flags: '--ngf <n>', help: 'generator filters in the first layer', parse: architectureFlag('--ngf', 'ngf'), defaultHelp: '64 for global; for local, half the --init G1\'s' }),
  nDownsampleGlobal: valued<number>({ flags: '--n-downsample-global <n>', help: 'stride-2 convolutions in G1', parse: architectureFlag('--n-downsample-global', 'n_downsample_global'), defaultHelp: '4' }),
  nBlocksGlobal: valued<number>({ flags: '--n-blocks-global <n>', help: 'residual blocks in G1', parse: architectureFlag('--n-blocks-global', 'n_blocks_global'), defaultHelp: '9' }),
  nLocalEnhancers: valued<number>({ flags: '--n-local-enhancers <n>', help: 'local enhancers (train local / joint)', parse: architectureFlag('--n-local-enhancers', 'n_local_enhancers'), defaultHelp: '1' }),
  nBlocksLocal: valued<number>({ flags: '--n-blocks-local <n>', help: 'residual blocks per local enhancer', parse: architectureFlag('--n-blocks-local', 'n_blocks_local'), defaultHelp: '3' }),
  norm: valued<string>({ flags: '--norm <kind>', help: 'normalisation layers', choices: Object.keys(NORMS), defaultHelp: 'instance' }),
  numD: valued<number>({ flags: '--num-d <n>', help: 'discriminator scales', parse: architectureFlag('--num-d', 'num_D'), defaultHelp: '2' }),
  nLayersD: valued<number>({ flags: '--n-layers-d <n>', help: 'layers per discriminator', parse: architectureFlag('--n-layers-d', 'n_layers_D'), defaultHelp: '3' }),
  ndf: valued<number>({ flags: '--ndf <n>', help: 'discriminator filters in the first layer', parse: architectureFlag('--ndf', 'ndf'), defaultHelp: '64' }),
  instanceFeat: valued<boolean>({ flags: '--instance-feat', help: 'train the encoder E; its per-instance features join G\'s input', defaultHelp: 'off' }),
  labelFeat: valued<boolean>({ flags: '--label-feat', help: 'like --instance-feat, but E\'s features are pooled per semantic label instead of per instance (reference label_feat)', defaultHelp: 'off' }),
  featNum: valued<number>({ flags: '--feat-num <n>', help: 'encoder feature channels', parse: architectureFlag('--feat-num', 'feat_num'), defaultHelp: '3' }),
  nef: valued<number>({ flags: '--nef <n>', help: 'encoder filters in the first layer', parse: architectureFlag('--nef', 'nef'), defaultHelp: '16' }),
  nDownsampleE: valued<number>({ flags: '--n-downsample-e <n>', help: 'stride-2 convolutions in the encoder', parse: architectureFlag('--n-downsample-e', 'n_downsample_E'), defaultHelp: '4' }),

  // Losses.
  lambdaFeat: defaulted<number>({ flags: '--lambda-feat <w>', help: 'weight of the feature-matching and VGG losses', parse: numberFlag('--lambda-feat', 0), defaultValue: 10 }),
  ganFeatLoss: toggle('--no-gan-feat-loss', 'turn off discriminator feature matching'),
  lsgan: toggle('--no-lsgan', 'vanilla GAN loss (sigmoid + BCE) instead of least squares'),
  vggWeights: valued<string>({ flags: '--vgg-weights <file>', help: "torchvision's VGG19 (vgg19-dcbb9e9d.pth, or any .pth/.safetensors with its features.N names): enables the VGG loss", parse: optionalString }),
  // How the step runs.
  checkpointActivations: toggle('--checkpoint-activations', 'recompute the residual blocks in the backward pass instead of keeping their activations (same results; less memory, about one more forward pass of the blocks); instance norm only', { changeableOnResume: true }),
  offloadActivations: toggle('--offload-activations', "wasm: move the large tensors saved for the backward pass out of the 4 GiB heap into process memory between the passes (same results; lets larger steps fit the heap, two copies per step)", { changeableOnResume: true }),
  poolSize: defaulted<number>({ flags: '--pool-size <n>', help: 'image pool of past fakes shown to D (0: none)', parse: integerFlag('--pool-size', 0), defaultValue: 0 }),

});
