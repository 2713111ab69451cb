const tf = require('@tensorflow/tfjs-core');
const { initBackend } = require('./dist/src/backend/index.js');
const { resolvePix2pixConfig } = require('./dist/src/families/pix2pix/config.js');
const { pix2pixSpecs, pix2pixGenerate } = require('./dist/src/families/pix2pix/networks.js');
const { initPix2pixParams } = require('./dist/src/families/pix2pix/init.js');
const { toVariables } = require('./dist/src/model/params.js');
const { pix2pixStep } = require('./dist/src/families/pix2pix/step.js');
const { isTrainable } = require('./dist/src/model/layers.js');
(async () => {
  await initBackend('wasm', { log: () => {} });
  const size = Number(process.argv[2] || 128);
  const config = resolvePix2pixConfig({ netG: size === 256 ? 'unet_256' : 'unet_128', ngf: Number(process.argv[3] || 16), ndf: 16 });
  const specs = pix2pixSpecs(config);
  const vars = toVariables(initPix2pixParams(specs, config, 1), specs);
  const tr = specs.filter(isTrainable);
  const keysG = tr.filter(s => s.key.startsWith('G.')).map(s => s.key), keysD = tr.filter(s => s.key.startsWith('D.')).map(s => s.key);
  const A = tf.randomUniform([1, size, size, 3], -1, 1), B = tf.randomUniform([1, size, size, 3], -1, 1);
  const what = process.argv[4] || 'step';
  const run = () => what === 'fwd' ? tf.tidy(() => pix2pixGenerate(config, vars, A, { training: true })).dispose() : pix2pixStep({ config, variables: vars, keysG, keysD }, { A, B }, { ganMode: 'vanilla', lambdaL1: 100 }, { updateD: () => {} });
  run();
  let t = Date.now(); run(); console.log(what, 'seconds', (Date.now() - t) / 1000);
  const prof = await tf.profile(() => { run(); });
  const totals = new Map();
  for (const k of prof.kernels) { const key = `${k.name}(${k.inputShapes.map(s => s ? s.join('x') : '-').join(', ')})`; const e = totals.get(key) || { ms: 0, n: 0 }; e.ms += k.kernelTimeMs; e.n++; totals.set(key, e); }
  [...totals.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15).forEach(([k, v]) => console.log((v.ms / 1000).toFixed(3), v.n, k));
})();
