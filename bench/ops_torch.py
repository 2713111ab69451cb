"""PyTorch side of `npm run bench -- ops --torch`: the same ops and shapes, for a
ratio measured on this machine. Benchmark only (never used by tests).

Reads the case list as JSON on stdin (written by bench/ops.ts), prints JSON
rows on stdout. Layout is NCHW, as PyTorch prefers; shapes are given in NHWC.
Usage: /usr/bin/python3 bench/ops_torch.py --threads N [--min-ms 600] [--device cuda]
(--device cuda: tensors on the GPU, each call timed to its end with torch.cuda.synchronize.)
"""
import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F

DEVICE = torch.device('cpu')


def randn(*shape):
    return torch.randn(*shape, device=DEVICE)


def sync():
    if DEVICE.type == 'cuda':
        torch.cuda.synchronize(DEVICE)


def nchw(shape):
    n, h, w, c = shape
    return (n, c, h, w)


def unary(name):
    """The forward function of a memory-bound op, by the name ops.ts uses."""
    if name.startswith('reflectPad'):
        pad = int(name.split()[1])
        return lambda x: F.pad(x, (pad, pad, pad, pad), mode='reflect')
    return {
        'instanceNorm': lambda x: F.instance_norm(x, eps=1e-5),
        'avgPoolDownsample': lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
        'relu': F.relu,
        'leakyRelu 0.2': lambda x: F.leaky_relu(x, 0.2),
        'tanh': torch.tanh,
        'concat C': lambda x: torch.cat([x, x], 1),
        'slice C': lambda x: x[:, : x.shape[1] // 2],
    }[name]


def make_call(case):
    kind = case['kind']
    if kind in ('conv', 'convInput', 'convFilter'):
        x = randn(nchw(case['xShape']))
        k, co, s, p = case['kernel'], case['outChannels'], case['stride'], case['pad']
        w = randn(co, x.shape[1], k, k)
        # As in ops.ts: with freshWeights every call copies the filter (training changes it every step).
        weights = (lambda: w.clone()) if case.get('freshWeights') else (lambda: w)
        if kind == 'conv':
            return lambda: F.conv2d(x, weights(), stride=s, padding=p)
        y = F.conv2d(x, w, stride=s, padding=p)
        dy = torch.randn_like(y)
        if kind == 'convInput':
            return lambda: torch.nn.grad.conv2d_input(x.shape, weights(), dy, stride=s, padding=p)
        return lambda: torch.nn.grad.conv2d_weight(x, w.shape, dy, stride=s, padding=p)
    if kind == 'transposed':
        x = randn(nchw(case['xShape']))
        w = randn(x.shape[1], case['outChannels'], case['kernel'], case['kernel'])
        return lambda: F.conv_transpose2d(x, w, stride=case['stride'], padding=case['pad'], output_padding=case['outputPadding'])
    f = unary(case['op'])
    x = randn(nchw(case['xShape']))
    if kind == 'fwd':
        return lambda: f(x)
    xg = x.clone().requires_grad_(True)
    dy = torch.randn_like(f(x))

    def forward_backward():
        xg.grad = None
        f(xg).backward(dy)
        return xg.grad

    return forward_backward


def time_call(call, min_ms):
    call()
    sync()
    samples = []
    total = 0.0
    while len(samples) < 25 and (total < min_ms or len(samples) < 3):
        start = time.perf_counter()
        call()
        sync()
        ms = (time.perf_counter() - start) * 1e3
        samples.append(ms)
        total += ms
    samples.sort()
    return samples[len(samples) // 2], samples[0], len(samples)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--threads', type=int, required=True)
    parser.add_argument('--min-ms', type=float, default=600)
    parser.add_argument('--device', default='cpu', help='cpu or cuda (cuda:N)')
    args = parser.parse_args()
    global DEVICE
    DEVICE = torch.device(args.device)
    torch.set_num_threads(args.threads)
    cases = json.load(sys.stdin)
    rows = []
    for case in cases:
        grad_needed = case['kind'] == 'fwdbwd'
        with torch.set_grad_enabled(grad_needed):
            median, best, runs = time_call(make_call(case), args.min_ms)
        row = {
            'op': case['name'],
            'shape': case['shape'],
            'backend': f'torch:{args.threads}' if DEVICE.type == 'cpu' else f'torch:{DEVICE}',
            'ms': round(median, 3),
            'best ms': round(best, 3),
            'GFLOP/s': None if case['flops'] is None else round(case['flops'] / best / 1e6, 2),
            'Melem/s': None if case['flops'] is not None else round(case['elements'] / best / 1e3, 1),
            'runs': runs,
        }
        rows.append(row)
        print(f"ops: torch:{args.threads} {case['name']} {case['shape']}: {median:.2f} ms", file=sys.stderr)
    json.dump({'torch': torch.__version__, 'rows': rows}, sys.stdout)


if __name__ == '__main__':
    main()
