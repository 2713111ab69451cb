#!/usr/bin/python3
"""Writes the tiny PyTorch files test/data/pth-fixtures/ holds (a dev script, never run by tests).

Run with Debian's python3-torch (torch 1.13):

    /usr/bin/python3 scripts/make-pth-fixtures.py [REFERENCE_DIR]

Writes, from fixed values (no randomness):
  state_zip.pth, state_legacy.pth   the same dict in both torch.save formats
      (zip: the default since PyTorch 1.6; legacy: _use_new_zipfile_serialization=False,
      the format of NVIDIA's 2018 checkpoints and torchvision's VGG19):
      an nn.Sequential(Conv2d(2, 3, 3), BatchNorm2d(3)) state_dict whose conv
      weight is arange(54).reshape(3, 2, 3, 3) / 10 and bias [-1, 0, 1], batch
      norm weight [1, 2, 3], bias [0.5, 0.25, 0.125], running_mean [0, 1, 2],
      running_var [1, 1, 4], num_batches_tracked 7; plus "half" F16 [1.5, -2, 0.25],
      "transposed" = arange(6).reshape(2, 3).t() (a non-contiguous view, stored
      with strides [1, 3]), "row" = arange(6).reshape(2, 3)[1] (a view at storage
      offset 3), and "epoch" = 12 (not a tensor).
  vgg_legacy.pth   torchvision vgg19's `features.N` names with the real shapes of
      features.0 (64x3x3x3) and features.2 only (0.01 * arange), legacy format.

With REFERENCE_DIR (a checkout of NVIDIA/pix2pixHD; nothing of it is copied
here), scripts/reference_synthesis.py's `weights` builds the reference's own
networks with its own define_G/define_D and TrainOptions (which writes opt.txt),
seeded, for two tiny configurations:
  ref_global/: --label_nc 4 --ngf 4 --n_downsample_global 1 --n_blocks_global 1
      --num_D 1 --n_layers_D 1 --ndf 4; latest_net_G.pth and latest_net_D.pth
      re-saved in the legacy format, opt.txt as the reference wrote it;
  ref_local/: the same with --netG local --n_local_enhancers 1 --n_blocks_local 1
      --instance_feat --feat_num 2 --nef 4 --n_downsample_E 1 --norm batch
      (zip format, with latest_net_E.pth).
Each folder also gets expected.json: every tensor of each network as
{"shape": [...], "values": [...]} (floats as Python repr), the test's reference.
"""
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), 'test', 'data', 'pth-fixtures')


def state_dict():
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3))
    with torch.no_grad():
        net[0].weight.copy_(torch.arange(54, dtype=torch.float32).reshape(3, 2, 3, 3) / 10)
        net[0].bias.copy_(torch.tensor([-1.0, 0.0, 1.0]))
        net[1].weight.copy_(torch.tensor([1.0, 2.0, 3.0]))
        net[1].bias.copy_(torch.tensor([0.5, 0.25, 0.125]))
        net[1].running_mean.copy_(torch.tensor([0.0, 1.0, 2.0]))
        net[1].running_var.copy_(torch.tensor([1.0, 1.0, 4.0]))
        net[1].num_batches_tracked.fill_(7)
    state = net.state_dict()
    state['half'] = torch.tensor([1.5, -2.0, 0.25], dtype=torch.float16)
    state['transposed'] = torch.arange(6, dtype=torch.float32).reshape(2, 3).t()
    state['row'] = torch.arange(6, dtype=torch.float32).reshape(2, 3)[1]
    state['epoch'] = 12
    return state


def vgg_state():
    state = collections.OrderedDict()
    state['features.0.weight'] = torch.arange(64 * 3 * 9, dtype=torch.float32).reshape(64, 3, 3, 3) * 0.01
    state['features.0.bias'] = torch.arange(64, dtype=torch.float32) * 0.01
    state['features.2.weight'] = torch.arange(64 * 64 * 9, dtype=torch.float32).reshape(64, 64, 3, 3) * 0.0001
    state['features.2.bias'] = torch.zeros(64)
    return state


def expected_json(folder):
    out = collections.OrderedDict()
    for name in sorted(os.listdir(folder)):
        if name.startswith('latest_net_') and name.endswith('.pth'):
            state = torch.load(os.path.join(folder, name), weights_only=True)
            out[name[len('latest_net_'):-len('.pth')]] = collections.OrderedDict(
                (k, {'shape': list(v.shape), 'values': [float(x) if v.is_floating_point() else int(x) for x in v.reshape(-1).tolist()]})
                for k, v in state.items())
    with open(os.path.join(folder, 'expected.json'), 'w') as f:
        json.dump(out, f, separators=(',', ':'))


def reference_fixtures(reference):
    configs = {
        'ref_global': (['--label_nc', '4', '--ngf', '4', '--n_downsample_global', '1', '--n_blocks_global', '1',
                        '--num_D', '1', '--n_layers_D', '1', '--ndf', '4'], True),
        'ref_local': (['--label_nc', '4', '--ngf', '4', '--n_downsample_global', '1', '--n_blocks_global', '1',
                       '--num_D', '1', '--n_layers_D', '1', '--ndf', '4', '--netG', 'local', '--n_local_enhancers', '1',
                       '--n_blocks_local', '1', '--instance_feat', '--feat_num', '2', '--nef', '4', '--n_downsample_E', '1',
                       '--norm', 'batch'], False),
    }
    work = tempfile.mkdtemp()
    try:
        for name, (flags, legacy) in configs.items():
            subprocess.check_call([sys.executable, os.path.join(HERE, 'reference_synthesis.py'), 'weights', '--reference', reference,
                                   '--checkpoints', work, '--name', name, '--seed', '3', '--init', 'normal:0.2', '--'] + flags,
                                  stdout=subprocess.DEVNULL)
            dest = os.path.join(OUT, name)
            shutil.rmtree(dest, ignore_errors=True)
            os.makedirs(dest)
            for file in sorted(os.listdir(os.path.join(work, name))):
                src = os.path.join(work, name, file)
                if file.endswith('.pth'):
                    state = torch.load(src)
                    torch.save(state, os.path.join(dest, file), _use_new_zipfile_serialization=not legacy)
                elif file == 'opt.txt':
                    shutil.copy(src, os.path.join(dest, file))
            expected_json(dest)
    finally:
        shutil.rmtree(work)


def main():
    os.makedirs(OUT, exist_ok=True)
    state = state_dict()
    torch.save(state, os.path.join(OUT, 'state_zip.pth'))
    torch.save(state, os.path.join(OUT, 'state_legacy.pth'), _use_new_zipfile_serialization=False)
    torch.save(vgg_state(), os.path.join(OUT, 'vgg_legacy.pth'), _use_new_zipfile_serialization=False)
    if len(sys.argv) > 1:
        reference_fixtures(os.path.abspath(sys.argv[1]))
    print('wrote %s' % ', '.join(sorted(os.listdir(OUT))))


if __name__ == '__main__':
    main()
