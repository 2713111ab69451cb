"""PyTorch side of `npm run bench -- train --family pix2pix --pytorch`: the
pix2pix training step (U-Net G once with dropout; PatchGAN D on the detached
fake and the real, D's Adam step; G's loss through the updated D: vanilla GAN
+ 100 * L1; G's Adam step), and G's test-time forward (batch statistics,
dropout on), timed on the CPU for a ratio measured on the machine that runs
the benchmark.

Written from the pix2pix paper's description for this benchmark only (the
networks' parity with the reference is tested elsewhere, against golden
tensors from the reference's own code). Needs Debian's python3-torch: run
with /usr/bin/python3. Prints `seconds_per_step=`, `cpu_seconds_per_step=`
(means of the steps after the first) and `synthesize_seconds=`.
"""
import argparse
import resource
import time

import torch
from torch import nn


class Level(nn.Module):
    """One U-Net level: LeakyReLU, 4x4 stride-2 conv, [norm], inner, ReLU, 4x4 stride-2 transposed conv, norm, [dropout]; skip concatenated."""

    def __init__(self, outer, inner_nc, inner=None, dropout=False):
        super().__init__()
        layers = [nn.LeakyReLU(0.2), nn.Conv2d(outer, inner_nc, 4, 2, 1, bias=False)]
        if inner is not None:
            layers += [nn.BatchNorm2d(inner_nc), inner]
        up_in = inner_nc * 2 if inner is not None else inner_nc
        layers += [nn.ReLU(), nn.ConvTranspose2d(up_in, outer, 4, 2, 1, bias=False), nn.BatchNorm2d(outer)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return torch.cat([nn.functional.leaky_relu(x, 0.2), self.model(x)], 1)


def unet(input_nc, output_nc, levels, ngf):
    block = Level(ngf * 8, ngf * 8)
    for _ in range(levels - 5):
        block = Level(ngf * 8, ngf * 8, block, dropout=True)
    block = Level(ngf * 4, ngf * 8, block)
    block = Level(ngf * 2, ngf * 4, block)
    block = Level(ngf, ngf * 2, block)
    return nn.Sequential(nn.Conv2d(input_nc, ngf, 4, 2, 1, bias=False), block, nn.ReLU(), nn.ConvTranspose2d(ngf * 2, output_nc, 4, 2, 1), nn.Tanh())


def patchgan(input_nc, ndf, n_layers=3):
    layers = [nn.Conv2d(input_nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
    mult = 1
    for n in range(1, n_layers + 1):
        previous, mult = mult, min(2 ** n, 8)
        layers += [nn.Conv2d(ndf * previous, ndf * mult, 4, 2 if n < n_layers else 1, 1, bias=False), nn.BatchNorm2d(ndf * mult), nn.LeakyReLU(0.2)]
    layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
    return nn.Sequential(*layers)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--levels', type=int, default=8)
    parser.add_argument('--ngf', type=int, default=64)
    parser.add_argument('--ndf', type=int, default=64)
    parser.add_argument('--steps', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    g = unet(3, 3, args.levels, args.ngf)
    d = patchgan(6, args.ndf)
    opt_g = torch.optim.Adam(g.parameters(), lr=0.0002, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=0.0002, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    l1 = nn.L1Loss()
    a = torch.rand(1, 3, args.size, args.size) * 2 - 1
    b = torch.rand(1, 3, args.size, args.size) * 2 - 1
    walls, cpus = [], []
    for _ in range(args.steps + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        fake = g(a)
        opt_d.zero_grad()
        pred_fake = d(torch.cat([a, fake.detach()], 1))
        pred_real = d(torch.cat([a, b], 1))
        loss_d = 0.5 * (bce(pred_fake, torch.zeros_like(pred_fake)) + bce(pred_real, torch.ones_like(pred_real)))
        loss_d.backward()
        opt_d.step()
        for p in d.parameters():
            p.requires_grad_(False)
        opt_g.zero_grad()
        pred = d(torch.cat([a, fake], 1))
        loss_g = bce(pred, torch.ones_like(pred)) + 100 * l1(fake, b)
        loss_g.backward()
        opt_g.step()
        for p in d.parameters():
            p.requires_grad_(True)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    steady = walls[1:] or walls
    steady_cpu = cpus[1:] or cpus
    # The process's high-water mark after the training steps (KiB on Linux), before the forward-only timing.
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with torch.no_grad():
        g(a)
        wall = time.perf_counter()
        for _ in range(args.steps):
            g(a)
        synthesize = (time.perf_counter() - wall) / args.steps
    print('seconds_per_step=%.4f' % (sum(steady) / len(steady)))
    print('cpu_seconds_per_step=%.4f' % (sum(steady_cpu) / len(steady_cpu)))
    print('synthesize_seconds=%.4f' % synthesize)
    print('peak_rss_mib=%.0f' % peak_rss_mib)


if __name__ == '__main__':
    main()
