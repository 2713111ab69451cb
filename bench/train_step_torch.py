"""PyTorch side of `npm run bench -- train --pytorch`: the same training step
(G1 forward; multi-scale PatchGAN D on the detached fake, the real and the
fake; LSGAN + discriminator feature matching; Adam on G then on D) timed on
the CPU, for a ratio measured on the machine that runs the benchmark.

Written from the pix2pixHD paper's description for this benchmark only (the
networks' parity with the reference is tested elsewhere, against golden
tensors). Needs Debian's python3-torch: run with /usr/bin/python3.
Prints `seconds_per_step=<mean of the steps after the first>` and the
process CPU time per step (`cpu_seconds_per_step=`).
"""
import argparse
import resource
import time

import torch
from torch import nn


def norm(channels):
    return nn.InstanceNorm2d(channels, affine=False)


def resnet_block(dim):
    return nn.Sequential(
        nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm(dim), nn.ReLU(True),
        nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm(dim))


class Residual(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.block = resnet_block(dim)

    def forward(self, x):
        return x + self.block(x)


def global_generator(input_nc, ngf, n_down, n_blocks):
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7), norm(ngf), nn.ReLU(True)]
    for i in range(n_down):
        c = ngf * 2 ** i
        layers += [nn.Conv2d(c, c * 2, 3, stride=2, padding=1), norm(c * 2), nn.ReLU(True)]
    bottleneck = ngf * 2 ** n_down
    layers += [Residual(bottleneck) for _ in range(n_blocks)]
    for i in range(n_down):
        c = ngf * 2 ** (n_down - i)
        layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1), norm(c // 2), nn.ReLU(True)]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
    return nn.Sequential(*layers)


class PatchDiscriminator(nn.Module):
    def __init__(self, input_nc, ndf, n_layers):
        super().__init__()
        groups = [[nn.Conv2d(input_nc, ndf, 4, stride=2, padding=2), nn.LeakyReLU(0.2, True)]]
        c = ndf
        for _ in range(1, n_layers):
            prev, c = c, min(c * 2, 512)
            groups.append([nn.Conv2d(prev, c, 4, stride=2, padding=2), norm(c), nn.LeakyReLU(0.2, True)])
        prev, c = c, min(c * 2, 512)
        groups.append([nn.Conv2d(prev, c, 4, stride=1, padding=2), norm(c), nn.LeakyReLU(0.2, True)])
        groups.append([nn.Conv2d(c, 1, 4, stride=1, padding=2)])
        self.groups = nn.ModuleList(nn.Sequential(*g) for g in groups)

    def forward(self, x):
        outputs = []
        for group in self.groups:
            x = group(x)
            outputs.append(x)
        return outputs


class MultiscaleDiscriminator(nn.Module):
    def __init__(self, input_nc, ndf, n_layers, num_d):
        super().__init__()
        self.scales = nn.ModuleList(PatchDiscriminator(input_nc, ndf, n_layers) for _ in range(num_d))
        self.down = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x):
        results = []
        for i, d in enumerate(self.scales):
            results.append(d(x))
            if i != len(self.scales) - 1:
                x = self.down(x)
        return results


def gan_loss(predictions, real):
    return sum(((p[-1] - 1) ** 2).mean() if real else (p[-1] ** 2).mean() for p in predictions)


def main():
    parser = argparse.ArgumentParser()
    for name, default in [('height', 128), ('width', 256), ('ngf', 64), ('n-downsample', 4), ('n-blocks', 9), ('ndf', 64),
                          ('n-layers-d', 3), ('num-d', 2), ('input-nc', 36), ('steps', 3), ('threads', 2)]:
        parser.add_argument(f'--{name}', type=int, default=default)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    generator = global_generator(args.input_nc, args.ngf, args.n_downsample, args.n_blocks)
    discriminator = MultiscaleDiscriminator(args.input_nc + 3, args.ndf, args.n_layers_d, args.num_d)
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    label = torch.zeros(1, args.input_nc, args.height, args.width)
    label[:, 7] = 1
    real = torch.rand(1, 3, args.height, args.width) * 2 - 1
    feat_weight = 4.0 / (args.n_layers_d + 1) / args.num_d * 10.0
    times = []
    cpu_times = []
    for _ in range(args.steps + 1):
        start = time.perf_counter()
        cpu_start = time.process_time()
        fake = generator(label)
        pred_fake_pool = discriminator(torch.cat((label, fake.detach()), 1))
        pred_real = discriminator(torch.cat((label, real), 1))
        pred_fake = discriminator(torch.cat((label, fake), 1))
        loss_d = 0.5 * (gan_loss(pred_fake_pool, False) + gan_loss(pred_real, True))
        feat = sum(feat_weight * nn.functional.l1_loss(f, r.detach())
                   for fs, rs in zip(pred_fake, pred_real) for f, r in zip(fs[:-1], rs[:-1]))
        loss_g = gan_loss(pred_fake, True) + feat
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    steady = times[1:] or times
    steady_cpu = cpu_times[1:] or cpu_times
    # ru_maxrss: the process's peak resident set, in KiB on Linux.
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'seconds_per_step={sum(steady) / len(steady):.3f} cpu_seconds_per_step={sum(steady_cpu) / len(steady_cpu):.3f} first={times[0]:.3f} threads={torch.get_num_threads()} torch={torch.__version__} peak_rss_mib={peak_rss_mib:.0f}')


if __name__ == '__main__':
    main()
