#!/usr/bin/python3
"""The reference pix2pixHD's side of scripts/check-reference-synthesis.sh.

Runs NVIDIA's own code from a checkout the user supplies (--reference: a
folder with its models/, data/, options/, util/); nothing of it is copied
here. CPU only: the reference's CUDA allocations are redirected to the CPU
and torchvision (which the reference imports for its transforms and VGG) is
replaced by the few torchvision 0.2 transforms its data path uses.

Subcommands:
  weights   build the reference's G (+ D, + E) with define_G / define_D from
            seeded random weights, save checkpoints/NAME/latest_net_*.pth and
            the opt.txt the reference's own TrainOptions writes;
  cluster   E over photos + instance maps (the reference's Encoder with its
            instance-wise average pooling), features per instance read at its
            middle pixel with the area ratio (encode_features), k-means per
            class over rows with area > 0.5 -> features_clustered_NNN.npy;
  run       test.py's loop (the reference's AlignedDataset, InferenceModel,
            model.inference, util.tensor2im) -> NAME.png (tensor2im: truncated)
            + NAME.npy (the float output in [-1, 1], HWC);
  compare   p2phd's PNGs against the reference's: max / mean absolute
            difference in grey levels, % of values more than 1 level apart;
            also against round((y+1)/2*255) of the reference's float output.

Needs /usr/bin/python3 with torch, numpy and PIL.
"""
import argparse
import collections
import glob
import json
import os
import sys

import numpy as np
from PIL import Image

import torchvision_stub


# ---------------------------------------------------------------------------
# Making the reference importable on a CPU-only machine without torchvision.

def import_reference(src):
    """Puts the reference's folder first on sys.path, CPU stand-ins for its CUDA calls."""
    import torch
    if not os.path.isfile(os.path.join(src, 'models', 'pix2pixHD_model.py')):
        sys.stderr.write('%s: not a pix2pixHD checkout (no models/pix2pixHD_model.py)\n' % src)
        sys.exit(2)
    try:
        import torchvision  # noqa: F401
        import torchvision.transforms  # noqa: F401
    except ImportError:
        torchvision_stub.install()
    sys.path.insert(0, os.path.abspath(src))
    torch.cuda.FloatTensor = torch.FloatTensor
    torch.cuda.ByteTensor = torch.ByteTensor
    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.nn.Module.cuda = lambda self, *a, **k: self
    _load = np.load

    def load(*a, **k):  # the reference's np.load(...).item() of a pickled dict
        k.setdefault('allow_pickle', True)
        return _load(*a, **k)
    np.load = load
    return torch


def reference_argv(args_list):
    """Parses reference options with its own TrainOptions/TestOptions from an argv list."""
    saved = sys.argv
    sys.argv = ['reference'] + args_list
    return saved


# ---------------------------------------------------------------------------
# weights

def init_weights(torch, net, mode, generator):
    """Conv weights for the test: the reference's (already applied) or N(0, std)."""
    if mode == 'reference':
        return
    std = float(mode.split(':', 1)[1])
    for m in net.modules():
        name = m.__class__.__name__
        if name.find('Conv') != -1:
            m.weight.data.normal_(0.0, std)
            m.bias.data.normal_(0.0, std)
        elif name.find('BatchNorm2d') != -1:
            m.weight.data.normal_(1.0, std)
            m.bias.data.normal_(0.0, std)


def cmd_weights(args, rest):
    torch = import_reference(args.reference)
    from options.train_options import TrainOptions
    from models import networks
    saved = reference_argv(['--name', args.name, '--checkpoints_dir', args.checkpoints, '--gpu_ids', '-1', '--no_vgg_loss'] + rest)
    import builtins
    quiet = builtins.print
    builtins.print = lambda *a, **k: None  # define_G prints whole networks
    try:
        opt = TrainOptions().parse()  # writes checkpoints/NAME/opt.txt, as the reference does
        torch.manual_seed(args.seed)
        input_nc = opt.label_nc if opt.label_nc != 0 else opt.input_nc
        g_in = input_nc + (0 if opt.no_instance else 1) + (opt.feat_num if opt.instance_feat else 0)
        nets = collections.OrderedDict()
        nets['G'] = networks.define_G(g_in, opt.output_nc, opt.ngf, opt.netG, opt.n_downsample_global, opt.n_blocks_global,
                                      opt.n_local_enhancers, opt.n_blocks_local, opt.norm, gpu_ids=[])
        d_in = input_nc + opt.output_nc + (0 if opt.no_instance else 1)
        nets['D'] = networks.define_D(d_in, opt.ndf, opt.n_layers_D, opt.norm, opt.no_lsgan, opt.num_D, not opt.no_ganFeat_loss, gpu_ids=[])
        if opt.instance_feat:
            nets['E'] = networks.define_G(opt.output_nc, opt.feat_num, opt.nef, 'encoder', opt.n_downsample_E, norm=opt.norm, gpu_ids=[])
    finally:
        builtins.print = quiet
        sys.argv = saved
    generator = torch.Generator().manual_seed(args.seed + 1)
    for key, net in nets.items():
        init_weights(torch, net, args.init, key == 'G')
        for name, buf in net.named_buffers():  # running statistics: anything but the defaults
            if name.endswith('running_mean'):
                buf.copy_(torch.randn(buf.shape, generator=generator) * 0.1)
            elif name.endswith('running_var'):
                buf.copy_(torch.rand(buf.shape, generator=generator) + 0.5)
            elif name.endswith('num_batches_tracked'):
                buf.fill_(1234)
        torch.save(net.state_dict(), os.path.join(args.checkpoints, args.name, 'latest_net_%s.pth' % key))
    counts = {k: sum(p.numel() for p in n.parameters()) for k, n in nets.items()}
    print(json.dumps({'parameters': counts}))


# ---------------------------------------------------------------------------
# Shared: the reference's test-time options, data loader and model.

def reference_test_model(args, rest, extra=()):
    torch = import_reference(args.reference)
    from options.test_options import TestOptions
    from data.data_loader import CreateDataLoader
    from models.models import create_model
    import builtins
    saved = reference_argv(['--name', args.name, '--checkpoints_dir', args.checkpoints, '--gpu_ids', '-1',
                            '--dataroot', args.dataroot, '--phase', args.phase, '--how_many', '100000'] + list(extra) + rest)
    quiet = builtins.print
    builtins.print = lambda *a, **k: None
    try:
        opt = TestOptions().parse(save=False)
        opt.nThreads = 1
        opt.batchSize = 1
        opt.serial_batches = True
        opt.no_flip = True
        dataset = CreateDataLoader(opt).load_data()
        model = create_model(opt)
    finally:
        builtins.print = quiet
        sys.argv = saved
    # sample_features fills instances of classes without centres from an
    # uninitialised tensor (torch.Tensor(size)): zeros here, as p2phd does.
    model.Tensor = lambda *size: torch.zeros(*size)
    return torch, opt, dataset, model


def cmd_run(args, rest):
    extra = []
    if args.use_encoded:
        extra.append('--use_encoded_image')
    if args.cluster_path:
        extra += ['--cluster_path', args.cluster_path]
    torch, opt, dataset, model = reference_test_model(args, rest, extra)
    import util.util as util
    if args.style == 'first':
        np.random.randint = lambda low, high=None, size=None, dtype=int: 0  # sample_features' draw -> centre 0
    torch.set_num_threads(args.threads)
    if args.float64:
        # Diagnostic: the same networks and inputs in float64, to see how far
        # float32 arithmetic (the reference's and p2phd's) is from exact.
        torch.cuda.FloatTensor = torch.DoubleTensor
        for net in ('netG', 'netE'):
            if hasattr(model, net):
                getattr(model, net).double()
        model.Tensor = lambda *size: torch.zeros(*size, dtype=torch.float64)
    os.makedirs(args.out, exist_ok=True)
    for data in dataset:
        with torch.no_grad():  # test.py builds a graph here (no numerical difference)
            if args.float64:
                data = {k: (v.double() if torch.is_tensor(v) and v.is_floating_point() else v) for k, v in data.items()}
            generated = model.inference(data['label'], data['inst'], data['image'])
        stem = os.path.splitext(os.path.basename(data['path'][0]))[0]
        if args.crop:  # top,bottom,left,right: undo a padding of the inputs
            top, bottom, left, right = (int(v) for v in args.crop.split(','))
            h, w = generated.shape[2], generated.shape[3]
            generated = generated[:, :, top:h - bottom, left:w - right]
        image = util.tensor2im(generated.data[0])
        util.save_image(image, os.path.join(args.out, stem + '.png'))  # PNG (test.py's visualizer writes JPEG)
        np.save(os.path.join(args.out, stem + '.npy'), generated.data[0].numpy().transpose(1, 2, 0).astype(np.float64))
        sys.stderr.write('reference: %s %dx%d\n' % (stem, image.shape[1], image.shape[0]))


# ---------------------------------------------------------------------------
# pad

def cmd_pad(args, _rest):
    """Reflect-pads every map under --src (PyTorch's ReflectionPad2d: the edge is not repeated) as p2phd does."""
    padding = None
    for path in sorted(glob.glob(os.path.join(args.src, '*', '*.png'))):
        im = Image.open(path)
        a = np.asarray(im)
        h, w = a.shape[:2]
        eh, ew = -h % args.multiple, -w % args.multiple
        pad = (eh // 2, eh - eh // 2, ew // 2, ew - ew // 2)
        if padding not in (None, pad):
            sys.exit('%s: maps of different sizes' % args.src)
        padding = pad
        widths = ((pad[0], pad[1]), (pad[2], pad[3])) + (((0, 0),) if a.ndim == 3 else ())
        out = os.path.join(args.dest, os.path.relpath(path, args.src))
        os.makedirs(os.path.dirname(out), exist_ok=True)
        Image.fromarray(np.pad(a, widths, mode='reflect'), mode=im.mode).save(out)
    if padding is None:
        sys.exit('%s: no */*.png maps to pad' % args.src)
    print(','.join(str(v) for v in padding))


# ---------------------------------------------------------------------------
# cluster

def kmeans(x, k, seed):
    """k-means++ then Lloyd (the reference uses sklearn's KMeans(random_state=0)); deterministic."""
    rng = np.random.RandomState(seed)
    centers = [x[rng.randint(len(x))]]
    for _ in range(1, k):
        d = np.min(((x[:, None, :] - np.array(centers)[None]) ** 2).sum(-1), axis=1)
        centers.append(x[rng.choice(len(x), p=d / d.sum())] if d.sum() > 0 else x[rng.randint(len(x))])
    c = np.array(centers)
    for _ in range(300):
        assign = ((x[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
        new = np.array([x[assign == j].mean(0) if (assign == j).any() else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    return c


def cmd_cluster(args, rest):
    torch, opt, dataset, model = reference_test_model(args, rest, ['--use_encoded_image'])
    feat_num = opt.feat_num
    features = {label: np.zeros((0, feat_num + 1)) for label in range(opt.label_nc)}
    for data in dataset:
        image, inst = data['image'], data['inst']
        with torch.no_grad():
            feat_map = model.netE.forward(image, inst)  # the reference's Encoder + instance-wise average pooling
        h, w = inst.size()[2], inst.size()[3]
        inst_np = inst.numpy().astype(int)
        # encode_features(): per instance, the vector at its middle pixel (raster order) and its area ratio.
        for i in np.unique(inst_np):
            label = i if i < 1000 else i // 1000
            idx = (inst == int(i)).nonzero()
            num = idx.size()[0]
            idx = idx[num // 2, :]
            val = np.zeros((1, feat_num + 1))
            for k in range(feat_num):
                val[0, k] = float(feat_map[idx[0], idx[1] + k, idx[2], idx[3]])
            val[0, feat_num] = float(num) / (h * w // 32)
            features[label] = np.append(features[label], val, axis=0)
    centers = {}
    for label in range(opt.label_nc):
        feat = features[label]
        feat = feat[feat[:, -1] > 0.5, :-1]
        if feat.shape[0]:
            centers[label] = kmeans(feat, min(feat.shape[0], args.k), 0)
    path = os.path.join(args.checkpoints, args.name, 'features_clustered_%03d.npy' % args.k)
    np.save(path, centers)
    print(json.dumps({'clusters': path, 'classes': {int(k): int(v.shape[0]) for k, v in centers.items()}}))


# ---------------------------------------------------------------------------
# compare

def cmd_compare(args, _rest):
    rows = []
    worst = 0
    for ref_png in sorted(glob.glob(os.path.join(args.ref, '*.png'))):
        stem = os.path.splitext(os.path.basename(ref_png))[0]
        ours_png = os.path.join(args.ours, stem + '.png')
        if not os.path.exists(ours_png):
            print('%s: p2phd wrote no %s' % (stem, ours_png))
            worst = max(worst, 999)
            continue
        ref = np.asarray(Image.open(ref_png).convert('RGB'), dtype=np.int32)
        ours = np.asarray(Image.open(ours_png).convert('RGB'), dtype=np.int32)
        row = {'stem': stem, 'ours_size': [ours.shape[1], ours.shape[0]], 'ref_size': [ref.shape[1], ref.shape[0]]}
        if ref.shape != ours.shape:
            # The reference resized the input to a size its G takes; p2phd padded and cropped back.
            ref_resized = np.asarray(Image.open(ref_png).convert('RGB').resize((ours.shape[1], ours.shape[0]), Image.BICUBIC), dtype=np.int32)
            d = np.abs(ref_resized - ours)
            row.update({'note': 'sizes differ; reference output resized (bicubic) to ours for this figure',
                        'max': int(d.max()), 'mean': float(d.mean()), 'pct_gt1': float((d > 1).mean() * 100)})
            rows.append(row)
            continue
        d = np.abs(ref - ours)
        y = np.load(os.path.join(args.ref, stem + '.npy')).astype(np.float64)
        rounded = np.clip(np.round((y + 1) / 2 * 255), 0, 255).astype(np.int32)
        dr = np.abs(rounded - ours)
        saturated = float(((y <= -0.999) | (y >= 0.999)).mean() * 100)
        row.update({'max': int(d.max()), 'mean': float(d.mean()), 'pct_gt1': float((d > 1).mean() * 100),
                    'max_vs_rounded': int(dr.max()), 'mean_vs_rounded': float(dr.mean()), 'pct_ne_rounded': float((dr > 0).mean() * 100),
                    'ref_std_levels': float(ref.std()), 'pct_saturated': saturated})
        worst = max(worst, int(d.max()))
        rows.append(row)
    if not rows:
        print('no reference PNGs in %s' % args.ref)
        return 1
    for row in rows:
        print(json.dumps(row))
    if args.expect_parity and worst > args.tolerance:
        print('FAIL: max difference %d grey levels > %d' % (worst, args.tolerance))
        return 1
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    for name in ('weights', 'run', 'cluster'):
        p = sub.add_parser(name, help='extra arguments go to the reference\'s option parser')
        p.add_argument('--reference', required=True, help='the pix2pixHD checkout (models/, data/, options/, util/)')
        p.add_argument('--checkpoints', required=True)
        p.add_argument('--name', required=True)
        if name == 'weights':
            p.add_argument('--seed', type=int, default=0)
            p.add_argument('--init', default='reference', help='reference | normal:STD (conv weights and biases N(0, STD))')
        else:
            p.add_argument('--dataroot', required=True)
            p.add_argument('--phase', default='test')
        if name == 'run':
            p.add_argument('--out', required=True)
            p.add_argument('--use-encoded', action='store_true')
            p.add_argument('--cluster-path')
            p.add_argument('--style', choices=('random', 'first'), default='random')
            p.add_argument('--threads', type=int, default=2)
            p.add_argument('--float64', action='store_true', help='diagnostic: run the networks in float64')
            p.add_argument('--crop', help='top,bottom,left,right pixels to crop off the outputs')
        if name == 'cluster':
            p.add_argument('--k', type=int, default=10)
    p = sub.add_parser('pad')
    p.add_argument('--src', required=True)
    p.add_argument('--dest', required=True)
    p.add_argument('--multiple', type=int, required=True)
    p = sub.add_parser('compare')
    p.add_argument('--ref', required=True)
    p.add_argument('--ours', required=True)
    p.add_argument('--tolerance', type=int, default=1)
    p.add_argument('--expect-parity', action='store_true')
    args, rest = parser.parse_known_args()
    if args.command not in ('compare', 'pad') and rest and rest[0] == '--':
        rest = rest[1:]
    handler = {'weights': cmd_weights, 'run': cmd_run, 'cluster': cmd_cluster, 'pad': cmd_pad, 'compare': cmd_compare}[args.command]
    return handler(args, rest) or 0


if __name__ == '__main__':
    sys.exit(main())
