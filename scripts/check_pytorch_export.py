#!/usr/bin/python3
"""Checks `p2phd export --format pytorch` output with the reference's own code (a dev check, not a test).

    /usr/bin/python3 scripts/check_pytorch_export.py --reference REFERENCE_DIR --exported DIR [--original DIR]

Opens every DIR/latest_net_*.pth with torch.load(weights_only=True) (which
refuses anything but tensors and state_dict types), builds the reference's
networks from DIR/opt.txt with its own define_G / define_D (REFERENCE_DIR: a
checkout of NVIDIA/pix2pixHD; nothing of it is copied into p2phd) and
load_state_dict(strict=True)s them. With --original (the reference's own
checkpoint folder the export came from, via p2phd import), every tensor must
be bit-identical, with the same dtype and key order. Exit 1 on any failure.
"""
import argparse
import glob
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference_synthesis  # noqa: E402  (import_reference: the checkout on sys.path, CPU stand-ins)


def read_opt(path):
    opts = {}
    for line in open(path):
        if line.startswith('---') or ':' not in line:
            continue
        key, value = line.split(':', 1)
        value = value.strip()
        opts[key.strip()] = True if value == 'True' else False if value == 'False' else int(value) if value.lstrip('-').isdigit() else value
    return opts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--reference', required=True)
    parser.add_argument('--exported', required=True)
    parser.add_argument('--original')
    args = parser.parse_args()
    torch = reference_synthesis.import_reference(args.reference)
    from models import networks
    opt = read_opt(os.path.join(args.exported, 'opt.txt'))
    input_nc = opt['label_nc'] if opt['label_nc'] != 0 else opt['input_nc']
    g_in = input_nc + (0 if opt['no_instance'] else 1) + (opt['feat_num'] if opt['instance_feat'] else 0)
    import builtins
    quiet = builtins.print
    builtins.print = lambda *a, **k: None  # define_G prints whole networks
    try:
        build = {
            'G': lambda: networks.define_G(g_in, opt['output_nc'], opt['ngf'], opt['netG'], opt['n_downsample_global'], opt['n_blocks_global'],
                                           opt['n_local_enhancers'], opt['n_blocks_local'], opt['norm'], gpu_ids=[]),
            'D': lambda: networks.define_D(input_nc + opt['output_nc'] + (0 if opt['no_instance'] else 1), opt['ndf'], opt['n_layers_D'], opt['norm'],
                                           False, opt['num_D'], True, gpu_ids=[]),
            'E': lambda: networks.define_G(opt['output_nc'], opt['feat_num'], opt['nef'], 'encoder', opt['n_downsample_E'], norm=opt['norm'], gpu_ids=[]),
        }
        files = sorted(glob.glob(os.path.join(args.exported, 'latest_net_*.pth')))
        if not files:
            sys.exit('%s: no latest_net_*.pth' % args.exported)
        for path in files:
            key = os.path.basename(path)[len('latest_net_'):-len('.pth')]
            state = torch.load(path, weights_only=True)
            net = build[key]()
            net.load_state_dict(state, strict=True)
            line = '%s: torch.load(weights_only=True) + reference net%s.load_state_dict(strict=True): ok (%d tensors)' % (path, key, len(state))
            if args.original:
                original = torch.load(os.path.join(args.original, os.path.basename(path)), weights_only=True)
                assert list(original) == list(state), '%s: keys differ from the original' % path
                for name in original:
                    assert original[name].dtype == state[name].dtype and torch.equal(original[name], state[name]), '%s: %s differs from the original' % (path, name)
                line += '; bit-identical to the original'
            quiet(line, file=sys.stderr)
    finally:
        builtins.print = quiet


if __name__ == '__main__':
    main()
