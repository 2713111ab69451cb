#!/usr/bin/python3
"""Golden tensors for p2phd's pix2pix family, computed by the reference's own
code (junyanz/pytorch-CycleGAN-and-pix2pix, upstream master 2a7afba):
models/networks.py (define_G, define_D, GANLoss) and models/pix2pix_model.py
(Pix2PixModel.optimize_parameters). Nothing of the reference is copied here;
the user supplies a checkout:

    git -C MIRROR archive 2a7afba models | tar -x -C /tmp/p2p-ref
    python3 scripts/reference_pix2pix.py --reference /tmp/p2p-ref --out test/golden/pix2pix

Dev tool, not part of `npm test` (the tests read the files it wrote). Needs
python3 with torch and numpy; CPU, float32.

Conventions (as /work/shared/golden): NCHW activations, PyTorch layouts,
parameters under the reference's state_dict keys prefixed `G.` / `D.`. Images
are stored as U8 (`*_u8`) and mean x = float32(u8 / 127.5 - 1) computed in
float64 (so both sides get the same float32 values). Dropout: the reference's
nn.Dropout draws from torch's generator, which p2phd cannot reproduce; this
script replaces nn.Dropout.forward (training mode) by x * mask * 2 with masks
it draws and stores, in call order, as `dropout.K` (U8 0/1, NCHW): the tests
hand the same masks to p2phd's dropout layer. With p = 0.5 the scale 2 is
exact, so the replacement computes what nn.Dropout computes for that mask.
"""
import argparse
import collections
import json
import os
import struct
import sys
import tempfile

import numpy as np

# ---------------------------------------------------------------------------
# safetensors writer (F32, I64, U8).

DTYPES = {'F32': '<f4', 'I64': '<i8', 'U8': 'u1'}


def write_safetensors(path, tensors, metadata):
    header = collections.OrderedDict()
    header['__metadata__'] = {k: (v if isinstance(v, str) else json.dumps(v, separators=(',', ':'))) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, (dtype, array) in tensors.items():
        data = np.ascontiguousarray(array, dtype=np.dtype(DTYPES[dtype])).tobytes()
        header[name] = {'dtype': dtype, 'shape': [int(d) for d in np.shape(array)], 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * (-len(text) % 8)
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', dir=os.path.dirname(os.path.abspath(path)))
    with os.fdopen(fd, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)
    print('%s: %d tensors, %d bytes' % (path, len(tensors), os.path.getsize(path)))


class Golden:
    def __init__(self):
        self.tensors = collections.OrderedDict()

    def f32(self, name, t):
        self.tensors[name] = ('F32', t.detach().cpu().numpy().astype(np.float32) if hasattr(t, 'detach') else np.asarray(t, np.float32))

    def i64(self, name, t):
        self.tensors[name] = ('I64', t.detach().cpu().numpy().astype(np.int64) if hasattr(t, 'detach') else np.asarray(t, np.int64))

    def u8(self, name, t):
        self.tensors[name] = ('U8', t.detach().cpu().numpy().astype(np.uint8) if hasattr(t, 'detach') else np.asarray(t, np.uint8))

    def state(self, prefix, net):
        for key, value in net.state_dict().items():
            if value.dtype == torch.int64:
                self.i64(prefix + key, value)
            else:
                self.f32(prefix + key, value)


# ---------------------------------------------------------------------------

torch = None
networks = None


def import_reference(src):
    global torch, networks
    import torch as _torch
    torch = _torch
    if not os.path.isfile(os.path.join(src, 'models', 'pix2pix_model.py')):
        sys.stderr.write('%s: not a pytorch-CycleGAN-and-pix2pix checkout (no models/pix2pix_model.py)\n' % src)
        sys.exit(2)
    sys.path.insert(0, os.path.abspath(src))
    from models import networks as _networks
    networks = _networks


class DropoutRecorder:
    """Stands in for nn.Dropout's training-mode draw: masks from a seeded generator, kept in call order."""

    def __init__(self):
        self.generator = None
        self.masks = []

    def start(self, seed):
        self.generator = torch.Generator().manual_seed(seed)
        self.masks = []

    def install(self):
        recorder = self

        def forward(module, x):
            if not module.training or module.p == 0:
                return x
            assert module.p == 0.5
            keep = (torch.rand(x.shape, generator=recorder.generator) >= 0.5).to(x.dtype)
            recorder.masks.append(keep.to(torch.uint8))
            return x * keep * 2.0

        torch.nn.Dropout.forward = forward

    def store(self, golden):
        for k, mask in enumerate(self.masks):
            golden.u8('dropout.%d' % k, mask)


DROPOUT = DropoutRecorder()


def image_u8(generator, shape):
    return torch.randint(0, 256, shape, generator=generator, dtype=torch.int64).to(torch.uint8)


def to_float(u8):
    return (u8.to(torch.float64) / 127.5 - 1).to(torch.float32)


def randomize(net, generator):
    """Weights far from the reference's small init, so outputs are not near zero: every tensor drawn."""
    with torch.no_grad():
        for name, value in net.state_dict().items():
            if name.endswith('num_batches_tracked'):
                value.fill_(7)
            elif name.endswith('running_mean'):
                value.copy_(torch.randn(value.shape, generator=generator) * 0.1)
            elif name.endswith('running_var'):
                value.copy_(torch.rand(value.shape, generator=generator) + 0.5)
            elif value.dim() == 4:
                fan_in = value.shape[1] * value.shape[2] * value.shape[3]
                value.copy_(torch.randn(value.shape, generator=generator) / fan_in ** 0.5)
            elif name.endswith('weight'):  # batch norm
                value.copy_(1 + torch.randn(value.shape, generator=generator) * 0.1)
            else:  # biases
                value.copy_(torch.randn(value.shape, generator=generator) * 0.1)


def strided(t, stride):
    return t[:, :, ::stride, ::stride].contiguous() if stride > 1 else t


# ---------------------------------------------------------------------------
# Forward goldens.

GENERATORS = [
    # name, netG, ngf, norm, dropout, input_nc, output_nc, size, stride of the stored output
    ('g_unet_128', 'unet_128', 1, 'batch', True, 3, 3, 128, 4),
    ('g_unet_256', 'unet_256', 1, 'batch', True, 1, 1, 256, 4),
    ('g_resnet_6blocks', 'resnet_6blocks', 4, 'instance', True, 3, 2, 32, 1),
    ('g_resnet_9blocks', 'resnet_9blocks', 2, 'batch', False, 3, 3, 32, 1),
    ('g_unet_128_none', 'unet_128', 2, 'none', False, 1, 3, 128, 4),
]

DISCRIMINATORS = [
    # name, netD, ndf, n_layers_D, norm, input channels, size
    ('d_basic', 'basic', 4, 3, 'batch', 6, 64),
    ('d_n_layers_2', 'n_layers', 4, 2, 'instance', 4, 32),
    ('d_n_layers_4', 'n_layers', 2, 4, 'none', 6, 64),
    ('d_pixel', 'pixel', 4, 3, 'batch', 6, 16),
    ('d_pixel_instance', 'pixel', 4, 3, 'instance', 4, 16),
]


def generator_goldens(out, seed):
    for k, (name, net_g, ngf, norm, dropout, input_nc, output_nc, size, stride) in enumerate(GENERATORS):
        generator = torch.Generator().manual_seed(seed + k)
        net = networks.define_G(input_nc, output_nc, ngf, net_g, norm, dropout, 'normal', 0.02)
        randomize(net, generator)
        golden = Golden()
        golden.state('G.', net)
        x_u8 = image_u8(generator, (3, input_nc, size, size))
        golden.u8('input_u8', x_u8)
        x = to_float(x_u8)
        net.eval()
        with torch.no_grad():
            golden.f32('output.eval', strided(net(x), stride))
        net.train()
        DROPOUT.start(seed + 100 + k)
        with torch.no_grad():
            golden.f32('output.train', strided(net(x), stride))
        DROPOUT.store(golden)
        # Running statistics (and num_batches_tracked) after that training-mode pass.
        for key, value in net.state_dict().items():
            if 'running_' in key or key.endswith('num_batches_tracked'):
                (golden.i64 if value.dtype == torch.int64 else golden.f32)('after.G.' + key, value)
        config = dict(netG=net_g, ngf=ngf, norm=norm, no_dropout=not dropout, input_nc=input_nc, output_nc=output_nc)
        write_safetensors(os.path.join(out, name + '.safetensors'), golden.tensors, {'config': config, 'output_stride': str(stride)})


def discriminator_goldens(out, seed):
    for k, (name, net_d, ndf, n_layers, norm, channels, size) in enumerate(DISCRIMINATORS):
        generator = torch.Generator().manual_seed(seed + 50 + k)
        net = networks.define_D(channels, ndf, net_d, n_layers, norm, 'normal', 0.02)
        randomize(net, generator)
        golden = Golden()
        golden.state('D.', net)
        x_u8 = image_u8(generator, (3, channels, size, size))
        golden.u8('input_u8', x_u8)
        x = to_float(x_u8)
        net.eval()
        with torch.no_grad():
            golden.f32('output.eval', net(x))
        net.train()
        with torch.no_grad():
            golden.f32('output.train', net(x))
        for key, value in net.state_dict().items():
            if 'running_' in key or key.endswith('num_batches_tracked'):
                (golden.i64 if value.dtype == torch.int64 else golden.f32)('after.D.' + key, value)
        config = dict(netD=net_d, ndf=ndf, n_layers_D=n_layers, norm=norm, input_channels=channels)
        write_safetensors(os.path.join(out, name + '.safetensors'), golden.tensors, {'config': config})


def loss_goldens(out, seed):
    generator = torch.Generator().manual_seed(seed + 90)
    golden = Golden()
    prediction = torch.randn((3, 1, 6, 6), generator=generator) * 2
    golden.f32('prediction', prediction)
    for mode in ('vanilla', 'lsgan', 'wgangp'):
        criterion = networks.GANLoss(mode)
        for target in (True, False):
            p = prediction.clone().requires_grad_(True)
            loss = criterion(p, target)
            loss.backward()
            suffix = '%s.%s' % (mode, 'real' if target else 'fake')
            golden.f32('loss.' + suffix, loss)
            golden.f32('grad.' + suffix, p.grad)
    a = torch.randn((2, 3, 5, 5), generator=generator)
    b = torch.randn((2, 3, 5, 5), generator=generator)
    golden.f32('l1.a', a)
    golden.f32('l1.b', b)
    golden.f32('l1.loss', torch.nn.L1Loss()(a, b))
    write_safetensors(os.path.join(out, 'losses.safetensors'), golden.tensors, {})


# ---------------------------------------------------------------------------
# Training steps, by Pix2PixModel.optimize_parameters itself.

STEPS = [
    # name, netG, ngf, netD, ndf, norm, gan_mode, dropout, input_nc, output_nc, size, batch
    ('step_unet_256_basic', 'unet_256', 1, 'basic', 4, 'batch', 'vanilla', True, 1, 1, 256, 1),
    ('step_resnet_9blocks_pixel', 'resnet_9blocks', 2, 'pixel', 4, 'instance', 'lsgan', True, 3, 3, 64, 1),
    ('step_unet_128_batch2', 'unet_128', 1, 'basic', 4, 'batch', 'wgangp', True, 1, 3, 128, 2),
]


def step_goldens(out, seed):
    from models.pix2pix_model import Pix2PixModel
    for k, (name, net_g, ngf, net_d, ndf, norm, gan_mode, dropout, input_nc, output_nc, size, batch) in enumerate(STEPS):
        opt = argparse.Namespace(
            isTrain=True, checkpoints_dir=tempfile.gettempdir(), name='p2phd-golden', preprocess='none', device=torch.device('cpu'),
            input_nc=input_nc, output_nc=output_nc, ngf=ngf, ndf=ndf, netG=net_g, netD=net_d, n_layers_D=3, norm=norm,
            no_dropout=not dropout, init_type='normal', init_gain=0.02, gan_mode=gan_mode, lr=0.0002, beta1=0.5,
            lambda_L1=100.0, direction='AtoB', pool_size=0)
        torch.manual_seed(seed + 200 + k)
        model = Pix2PixModel(opt)
        # The reference's own init (BaseModel.setup -> init_net), seeded.
        networks.init_weights(model.netG, 'normal', 0.02)
        networks.init_weights(model.netD, 'normal', 0.02)
        golden = Golden()
        golden.state('G.', model.netG)
        golden.state('D.', model.netD)
        before = {('G.' + k2): v.clone() for k2, v in model.netG.state_dict().items()}
        before.update({('D.' + k2): v.clone() for k2, v in model.netD.state_dict().items()})
        generator = torch.Generator().manual_seed(seed + 300 + k)
        a_u8 = image_u8(generator, (batch, input_nc, size, size))
        b_u8 = image_u8(generator, (batch, output_nc, size, size))
        golden.u8('A_u8', a_u8)
        golden.u8('B_u8', b_u8)
        model.set_input({'A': to_float(a_u8), 'B': to_float(b_u8), 'A_paths': ['a'] * batch, 'B_paths': ['b'] * batch})
        model.netG.train()
        model.netD.train()
        DROPOUT.start(seed + 400 + k)
        model.optimize_parameters()
        DROPOUT.store(golden)
        stride = 4 if size >= 128 else 1
        golden.f32('fake_B', strided(model.fake_B, stride))
        for loss in ('G_GAN', 'G_L1', 'D_real', 'D_fake'):
            golden.f32('loss.' + loss, getattr(model, 'loss_' + loss))
        after = {('G.' + k2): v for k2, v in model.netG.state_dict().items()}
        after.update({('D.' + k2): v for k2, v in model.netD.state_dict().items()})
        for key, value in after.items():
            if value.dtype == torch.int64 or 'running_' in key:
                (golden.i64 if value.dtype == torch.int64 else golden.f32)('after.' + key, value)
            else:
                golden.f32('update.' + key, value - before[key])
        config = dict(netG=net_g, ngf=ngf, netD=net_d, ndf=ndf, n_layers_D=3, norm=norm, no_dropout=not dropout,
                      input_nc=input_nc, output_nc=output_nc)
        training = dict(gan_mode=gan_mode, lr=0.0002, beta1=0.5, beta2=0.999, lambda_L1=100.0, batch_size=batch)
        write_safetensors(os.path.join(out, name + '.safetensors'), golden.tensors,
                          {'config': config, 'training': training, 'fake_B_stride': str(stride)})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--reference', required=True, help='a checkout of pytorch-CycleGAN-and-pix2pix (its models/ folder)')
    parser.add_argument('--out', required=True, help='folder for the golden files')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    import_reference(args.reference)
    torch.set_num_threads(1)
    DROPOUT.install()
    os.makedirs(args.out, exist_ok=True)
    generator_goldens(args.out, args.seed)
    discriminator_goldens(args.out, args.seed)
    loss_goldens(args.out, args.seed)
    step_goldens(args.out, args.seed)


if __name__ == '__main__':
    main()
