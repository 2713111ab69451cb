"""PyTorch side of `npm run bench -- train --pytorch` and of scripts/gpu-run.sh:
the same training step (G1 forward; multi-scale PatchGAN D on the detached
fake, the real and the fake; LSGAN + discriminator feature matching; Adam on G
then on D) timed on the CPU or a CUDA GPU, for a ratio measured on the machine
that runs the benchmark. `--mode forward` times the generator's forward pass
alone (no_grad), as `p2phd synthesize` runs it; `--netg local` is the 1024p
local enhancer (one enhancer, ngf 32, over G1 at ngf 64).

Written from the pix2pixHD paper's description for this benchmark only (the
networks' parity with the reference is tested elsewhere, against golden
tensors). Needs PyTorch: Debian's python3-torch (/usr/bin/python3) on the CPU,
the GPU machine's python3 with `--device cuda`.
Prints `seconds_per_step=<mean of the steps after the first>`, the process CPU
time per step (`cpu_seconds_per_step=`), the best step (`best=`) and, on CUDA,
the peak memory PyTorch's allocator held (`peak_allocated_mib=`,
`peak_reserved_mib=`); on the CPU with `--memory`, the peak of live tensor
bytes during one more (untimed) step (`peak_tensor_mib=`, and what was live
before it, `baseline_tensor_mib=`; see cpu_peak_tensor_bytes).
"""
import argparse
import gc
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


class LocalEnhancer(nn.Module):
    """G1 at ngf * 2**n_local without its output layer, and n_local enhancers
    (front end at full resolution, summed with the coarser output, residual
    blocks, upsampling); the input reaches each by average pooling."""

    def __init__(self, input_nc, ngf, n_down, n_blocks, n_local, n_blocks_local):
        super().__init__()
        g1 = global_generator(input_nc, ngf * 2 ** n_local, n_down, n_blocks)
        self.g1 = nn.Sequential(*list(g1.children())[:-3])
        self.front = nn.ModuleList()
        self.back = nn.ModuleList()
        for n in range(1, n_local + 1):
            c = ngf * 2 ** (n_local - n)
            self.front.append(nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(input_nc, c, 7), norm(c), nn.ReLU(True),
                                            nn.Conv2d(c, c * 2, 3, stride=2, padding=1), norm(c * 2), nn.ReLU(True)))
            back = [Residual(c * 2) for _ in range(n_blocks_local)]
            back += [nn.ConvTranspose2d(c * 2, c, 3, stride=2, padding=1, output_padding=1), norm(c), nn.ReLU(True)]
            if n == n_local:
                back += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
            self.back.append(nn.Sequential(*back))
        self.down = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x):
        inputs = [x]
        for _ in self.front:
            inputs.append(self.down(inputs[-1]))
        out = self.g1(inputs[-1])
        for i, (front, back) in enumerate(zip(self.front, self.back)):
            out = back(front(inputs[len(self.front) - 1 - i]) + out)
        return out


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


def unet_block(outer, inner, input_nc, submodule=None, outermost=False, innermost=False, dropout=False):
    """One level of pix2pix's U-Net (Isola et al.): LeakyReLU, 4x4 stride-2 conv, batch norm down;
    ReLU, 4x4 stride-2 transposed conv, batch norm (and dropout) up; the level's input is
    concatenated to its output, except at the outermost level."""
    down = [nn.LeakyReLU(0.2, True), nn.Conv2d(input_nc, inner, 4, stride=2, padding=1, bias=False)]
    if outermost:
        down = [nn.Conv2d(input_nc, inner, 4, stride=2, padding=1, bias=False)]
        up = [nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1), nn.Tanh()]
    elif innermost:
        up = [nn.ReLU(True), nn.ConvTranspose2d(inner, outer, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(outer)]
    else:
        down += [nn.BatchNorm2d(inner)]
        up = [nn.ReLU(True), nn.ConvTranspose2d(inner * 2, outer, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(outer)]
        if dropout:
            up += [nn.Dropout(0.5)]
    return UnetLevel(nn.Sequential(*down), submodule, nn.Sequential(*up), outermost)


class UnetLevel(nn.Module):
    def __init__(self, down, submodule, up, outermost):
        super().__init__()
        self.down, self.submodule, self.up, self.outermost = down, submodule, up, outermost

    def forward(self, x):
        y = self.down(x)
        if self.submodule is not None:
            y = self.submodule(y)
        y = self.up(y)
        return y if self.outermost else torch.cat((x, y), 1)


def unet_generator(input_nc, output_nc, n_down, ngf):
    """unet_256 is n_down 8, unet_128 is 7."""
    block = unet_block(ngf * 8, ngf * 8, ngf * 8, innermost=True)
    for _ in range(n_down - 5):
        block = unet_block(ngf * 8, ngf * 8, ngf * 8, block, dropout=True)
    block = unet_block(ngf * 4, ngf * 8, ngf * 4, block)
    block = unet_block(ngf * 2, ngf * 4, ngf * 2, block)
    block = unet_block(ngf, ngf * 2, ngf, block)
    return unet_block(output_nc, ngf, input_nc, block, outermost=True)


def basic_discriminator(input_nc, ndf, n_layers):
    """pix2pix's PatchGAN (70x70 for n_layers 3), batch norm."""
    layers = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
    c = ndf
    for n in range(1, n_layers + 1):
        prev, c = c, ndf * min(2 ** n, 8)
        layers += [nn.Conv2d(prev, c, 4, stride=1 if n == n_layers else 2, padding=1, bias=False), nn.BatchNorm2d(c), nn.LeakyReLU(0.2, True)]
    layers += [nn.Conv2d(c, 1, 4, stride=1, padding=1)]
    return nn.Sequential(*layers)


def pix2pix_steps(args, device, sync):
    """pix2pix's default step (unet_256, basic D, vanilla GAN, L1 x 100): D on the detached
    fake and the real, D's update; then G's loss through the updated D, G's update."""
    generator = unet_generator(args.input_nc, 3, args.n_downsample, args.ngf).to(device)
    discriminator = basic_discriminator(args.input_nc + 3, args.ndf, args.n_layers_d).to(device)
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    real_a = torch.rand(1, args.input_nc, args.height, args.width, device=device) * 2 - 1
    real_b = torch.rand(1, 3, args.height, args.width, device=device) * 2 - 1
    times, cpu_times = [], []
    for _ in range(args.steps + 1):
        sync()
        start = time.perf_counter()
        cpu_start = time.process_time()
        fake_b = generator(real_a)
        for p in discriminator.parameters():
            p.requires_grad_(True)
        opt_d.zero_grad()
        pred_fake = discriminator(torch.cat((real_a, fake_b.detach()), 1))
        pred_real = discriminator(torch.cat((real_a, real_b), 1))
        loss_d = 0.5 * (bce(pred_fake, torch.zeros_like(pred_fake)) + bce(pred_real, torch.ones_like(pred_real)))
        loss_d.backward()
        opt_d.step()
        for p in discriminator.parameters():
            p.requires_grad_(False)
        opt_g.zero_grad()
        pred_fake = discriminator(torch.cat((real_a, fake_b), 1))
        loss_g = bce(pred_fake, torch.ones_like(pred_fake)) + 100.0 * nn.functional.l1_loss(fake_b, real_b)
        loss_g.backward()
        opt_g.step()
        loss_g.item()
        loss_d.item()
        sync()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    return times, cpu_times


def live_tensor_bytes():
    """Bytes of every tensor storage Python can reach now (weights, gradients, Adam's state, inputs), each storage once."""
    gc.collect()
    storages = {}
    for obj in gc.get_objects():
        try:
            if torch.is_tensor(obj) and obj.device.type == 'cpu':
                storage = obj.untyped_storage() if hasattr(obj, 'untyped_storage') else obj.storage()
                storages[storage.data_ptr()] = storage.nbytes()
        except Exception:  # objects that fail to answer are not tensors we can count
            continue
    return sum(storages.values())


def cpu_peak_tensor_bytes(step):
    """The peak of live tensor bytes during `step()` on the CPU, where PyTorch keeps no allocator statistics:
    what is live before the step (live_tensor_bytes) plus the highest running sum of the CPU allocator's
    allocations and frees during it, as torch.profiler records them with profile_memory=True (every
    c10 CPU allocation and free, in order; buffers a library allocates by itself, such as oneDNN's, are not
    seen). Returns (peak, baseline)."""
    from torch.profiler import ProfilerActivity, profile
    baseline = live_tensor_bytes()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == '[memory]' and str(e.device_type()) == 'DeviceType.CPU']
    events.sort(key=lambda e: e.start_us())  # stable: events of the same microsecond keep their order
    live = high = 0
    for event in events:
        live += event.nbytes()
        high = max(high, live)
    return baseline + high, baseline


def make_generator(args):
    if args.netg == 'local':
        return LocalEnhancer(args.input_nc, args.ngf, args.n_downsample, args.n_blocks, args.n_local_enhancers, args.n_blocks_local)
    return global_generator(args.input_nc, args.ngf, args.n_downsample, args.n_blocks)


def main():
    parser = argparse.ArgumentParser()
    for name, default in [('height', 128), ('width', 256), ('ngf', 64), ('n-downsample', 4), ('n-blocks', 9), ('ndf', 64),
                          ('n-layers-d', 3), ('num-d', 2), ('input-nc', 36), ('steps', 3), ('threads', 2),
                          ('n-local-enhancers', 1), ('n-blocks-local', 3)]:
        parser.add_argument(f'--{name}', type=int, default=default)
    parser.add_argument('--device', default='cpu', help='cpu or cuda (cuda:N)')
    parser.add_argument('--mode', choices=['step', 'forward'], default='step')
    parser.add_argument('--netg', choices=['global', 'local'], default='global')
    parser.add_argument('--memory', action='store_true',
                        help='on the CPU: one more step (not timed) under torch.profiler for the peak of live tensor bytes '
                             '(peak_tensor_mib=, the CPU analogue of torch.cuda.max_memory_allocated)')
    parser.add_argument('--model', choices=['pix2pixhd', 'pix2pix'], default='pix2pixhd',
                        help='pix2pix: the default pix2pix step (unet_256 with --n-downsample 8, ngf 64, basic D, 3 input channels)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    cuda = device.type == 'cuda'
    if cuda:
        if not torch.cuda.is_available():
            raise SystemExit('train_step_torch: --device cuda, but torch.cuda.is_available() is False')
        torch.cuda.reset_peak_memory_stats(device)

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    times = []
    cpu_times = []
    peak_tensor = None
    if args.model != 'pix2pix':
        generator = make_generator(args).to(device)
        label = torch.zeros(1, args.input_nc, args.height, args.width, device=device)
        label[:, 7] = 1
    if args.model == 'pix2pix':
        times, cpu_times = pix2pix_steps(args, device, sync)
    elif args.mode == 'forward':
        generator.eval()
        with torch.no_grad():
            for _ in range(args.steps + 1):
                sync()
                start = time.perf_counter()
                cpu_start = time.process_time()
                generator(label)
                sync()
                times.append(time.perf_counter() - start)
                cpu_times.append(time.process_time() - cpu_start)
    else:
        if args.netg != 'global':
            raise SystemExit('train_step_torch: --mode step trains the global generator only')
        discriminator = MultiscaleDiscriminator(args.input_nc + 3, args.ndf, args.n_layers_d, args.num_d).to(device)
        opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
        real = torch.rand(1, 3, args.height, args.width, device=device) * 2 - 1
        feat_weight = 4.0 / (args.n_layers_d + 1) / args.num_d * 10.0

        def one_step():
            # A function, so that the step's tensors die when it returns (not when the next step rebinds them).
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
            # The step ends when its losses are read, as p2phd's device step reads its losses.
            loss_g.item()
            loss_d.item()

        for _ in range(args.steps + 1):
            sync()
            start = time.perf_counter()
            cpu_start = time.process_time()
            one_step()
            sync()
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
        if args.memory and not cuda:
            peak_tensor, baseline_tensor = cpu_peak_tensor_bytes(one_step)
    steady = times[1:] or times
    steady_cpu = cpu_times[1:] or cpu_times
    # ru_maxrss: the process's peak resident set, in KiB on Linux.
    memory = f' peak_rss_mib={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}'
    if cuda:
        memory += (f' peak_allocated_mib={torch.cuda.max_memory_allocated(device) / 2 ** 20:.0f}'
                  f' peak_reserved_mib={torch.cuda.max_memory_reserved(device) / 2 ** 20:.0f}'
                  f' gpu="{torch.cuda.get_device_name(device)}"')
    if peak_tensor is not None:
        memory += f' peak_tensor_mib={peak_tensor / 2 ** 20:.0f} baseline_tensor_mib={baseline_tensor / 2 ** 20:.0f}'
    print(f'seconds_per_step={sum(steady) / len(steady):.4f} cpu_seconds_per_step={sum(steady_cpu) / len(steady_cpu):.4f} '
          f'first={times[0]:.4f} best={min(steady):.4f} threads={torch.get_num_threads()} torch={torch.__version__} '
          f'device={device} model={args.model} mode={args.mode} netg={args.netg} size={args.width}x{args.height}{memory}')


if __name__ == '__main__':
    main()
