#!/usr/bin/python3
"""Convert between PyTorch pix2pixHD checkpoints and p2phd checkpoints.

A p2phd checkpoint (safetensors, `kind: "checkpoint"`) holds the reference's
own state_dict tensors under `G.`, `D.` and `E.` prefixes, in the reference's
layouts, plus the architecture in its metadata. So the conversion is renaming
and a config: nothing is transposed or recomputed.

Needs PyTorch (any 1.x/2.x) and numpy; NOT the `safetensors` package (the
file is written and read by the small codec below). Debian/Ubuntu:
`apt-get install python3-torch`; else `pip install torch numpy`.

PyTorch -> p2phd
----------------
    python3 scripts/convert_checkpoint.py to-p2phd \\
        --netG checkpoints/label2city/latest_net_G.pth \\
        [--netD checkpoints/label2city/latest_net_D.pth] \\
        [--netE checkpoints/label2city/latest_net_E.pth] \\
        --opt checkpoints/label2city/opt.txt \\
        [--config '{"ngf": 32}'] [--stage global|local|joint] [--epoch N] \\
        --out label2city.safetensors

`--opt` is the opt.txt the reference writes next to its checkpoints (its
training options); `--config` is a JSON object of p2phd config keys that
override it (label_nc, instance, instance_feat, feat_num, netG, ngf,
n_downsample_global, n_blocks_global, n_local_enhancers, n_blocks_local, norm,
output_nc, nef, n_downsample_E, num_D, n_layers_D, ndf). Without --opt the
reference's defaults are assumed, so give --config for anything else. Note
that p2phd's `instance` is the negation of the reference's `--no_instance`.
The reference's --instance_feat models need --netE for `--use-encoded`.
--stage defaults to `global` for netG global and `local` for netG local.
Every tensor is checked against the configuration (name and shape); a
mismatch is an error naming the tensor, the shapes and the likely option.
BatchNorm statistics saved by PyTorch < 0.4.1 lack `num_batches_tracked`;
it is added as 0.

Then, e.g.:
    p2phd synthesize --checkpoint label2city.safetensors \\
        --labels 'test_label/*.png' --instances 'test_inst/*.png' --out results

p2phd -> PyTorch
----------------
    python3 scripts/convert_checkpoint.py to-pytorch CKPT.safetensors --out-dir DIR

writes DIR/latest_net_G.pth (and latest_net_D.pth, latest_net_E.pth when the
checkpoint has D or E) as the reference's state_dicts, loadable with
`net.load_state_dict(torch.load(path))`, plus DIR/opt.txt with the
architecture options, and prints the reference test.py flags that rebuild the
same networks (`--checkpoints_dir`/`--name` pointing at DIR).

Style clusters
--------------
    python3 scripts/convert_checkpoint.py clusters-to-p2phd features_clustered_010.npy --out clusters.safetensors
    python3 scripts/convert_checkpoint.py clusters-to-pytorch clusters.safetensors --out features_clustered_010.npy

between the reference's encode_features.py output ({label: centres} in an
.npy) and p2phd's clusters file (`centers.<class>` F32 [k_c, feat_num]).

Exit status: 0 done, 2 bad usage, 3 bad input (unreadable or mismatched files).
"""
import argparse
import ast
import collections
import json
import os
import struct
import sys
import tempfile

try:
    import numpy as np
except ImportError:  # pragma: no cover
    sys.stderr.write('convert_checkpoint.py needs numpy (pip install numpy)\n')
    sys.exit(2)

USAGE_ERROR = 2
INPUT_ERROR = 3


class ConvertError(Exception):
    def __init__(self, message, code=INPUT_ERROR):
        super().__init__(message)
        self.code = code


def _torch():
    try:
        import torch
    except ImportError:
        raise ConvertError('this command needs PyTorch (pip install torch, or apt-get install python3-torch)', USAGE_ERROR)
    return torch


# ---------------------------------------------------------------------------
# Architecture config (p2phd's keys; defaults are the reference's).

DEFAULT_CONFIG = collections.OrderedDict([
    ('label_nc', 35), ('instance', True), ('instance_feat', False), ('feat_num', 3),
    ('netG', 'global'), ('ngf', 64), ('n_downsample_global', 4), ('n_blocks_global', 9),
    ('n_local_enhancers', 1), ('n_blocks_local', 3), ('norm', 'instance'), ('output_nc', 3),
    ('nef', 16), ('n_downsample_E', 4), ('num_D', 2), ('n_layers_D', 3), ('ndf', 64),
])
INT_MIN = {'label_nc': 0, 'feat_num': 1, 'ngf': 1, 'n_downsample_global': 0, 'n_blocks_global': 0,
           'n_local_enhancers': 1, 'n_blocks_local': 0, 'output_nc': 1, 'nef': 1, 'n_downsample_E': 0,
           'num_D': 1, 'n_layers_D': 1, 'ndf': 1}
STAGES = ('global', 'local', 'joint')


def validate_config(config, where):
    unknown = [k for k in config if k not in DEFAULT_CONFIG]
    if unknown:
        raise ConvertError('%s: unknown option(s) %s; known: %s' % (where, ', '.join(unknown), ', '.join(DEFAULT_CONFIG)), USAGE_ERROR)
    merged = collections.OrderedDict(DEFAULT_CONFIG)
    merged.update(config)
    for key, value in merged.items():
        if key in INT_MIN:
            if isinstance(value, bool) or not isinstance(value, int) or value < INT_MIN[key]:
                raise ConvertError('%s: %s must be an integer >= %d, got %r' % (where, key, INT_MIN[key], value), USAGE_ERROR)
        elif key == 'netG':
            if value not in ('global', 'local'):
                raise ConvertError('%s: netG must be global or local, got %r' % (where, value), USAGE_ERROR)
        elif key == 'norm':
            if value not in ('instance', 'batch'):
                raise ConvertError('%s: norm must be instance or batch, got %r' % (where, value), USAGE_ERROR)
        elif not isinstance(value, bool):
            raise ConvertError('%s: %s must be true or false, got %r' % (where, key, value), USAGE_ERROR)
    return merged


def parse_opt_txt(path):
    """The reference's opt.txt ('key: value' lines between the banners) -> dict of Python values."""
    try:
        with open(path, 'r') as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise ConvertError('%s: cannot read (%s)' % (path, e.strerror))
    except UnicodeDecodeError:
        raise ConvertError('%s: not a text file: give --opt the opt.txt the reference writes in checkpoints/NAME/' % path)
    opts = {}
    for line in lines:
        if line.startswith('---') or not line.strip():
            continue
        key, sep, value = line.partition(': ')
        if not sep:
            key, sep, value = line.partition(':')
        if not sep:
            raise ConvertError('%s: line %r is not "key: value" (is this a pix2pixHD opt.txt?)' % (path, line))
        value = value.strip()
        try:
            opts[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            opts[key.strip()] = value  # strings are written unquoted
    if 'netG' not in opts and 'label_nc' not in opts:
        raise ConvertError('%s: no netG or label_nc option: not a pix2pixHD opt.txt' % path)
    return opts


def config_from_opt(opts, path):
    """The reference's options -> p2phd config keys (instance = not no_instance)."""
    config = {}
    for key in DEFAULT_CONFIG:
        if key in ('instance',):
            continue
        if key in opts:
            config[key] = opts[key]
    if 'no_instance' in opts:
        config['instance'] = not bool(opts['no_instance'])
    for key in ('instance_feat',):
        if key in config:
            config[key] = bool(config[key])
    if opts.get('label_feat'):
        raise ConvertError('%s: label_feat is set; p2phd supports instance features (--instance_feat) only' % path, USAGE_ERROR)
    if opts.get('label_nc', 35) == 0 and int(opts.get('input_nc', 3)) != 3:
        raise ConvertError('%s: label_nc 0 with input_nc %s; p2phd takes 3-channel colour label maps only' % (path, opts.get('input_nc')), USAGE_ERROR)
    if opts.get('use_dropout'):
        sys.stderr.write('warning: %s: use_dropout is set but the reference never builds dropout into these networks; ignored\n' % path)
    if opts.get('netG') not in (None, 'global', 'local'):
        raise ConvertError('%s: netG %r is not global or local' % (path, opts.get('netG')), USAGE_ERROR)
    return config


# ---------------------------------------------------------------------------
# The reference's state_dict keys and shapes for a config (networks.py).

def _conv(out, prefix, cin, cout, k):
    out[prefix + '.weight'] = (cout, cin, k, k)
    out[prefix + '.bias'] = (cout,)


def _conv_t(out, prefix, cin, cout, k):
    out[prefix + '.weight'] = (cin, cout, k, k)
    out[prefix + '.bias'] = (cout,)


def _norm(out, prefix, norm, c):
    if norm == 'batch':
        out[prefix + '.weight'] = (c,)
        out[prefix + '.bias'] = (c,)
        out[prefix + '.running_mean'] = (c,)
        out[prefix + '.running_var'] = (c,)
        out[prefix + '.num_batches_tracked'] = ()


def _resnet_block(out, prefix, dim, norm):
    _conv(out, prefix + '.conv_block.1', dim, dim, 3)
    _norm(out, prefix + '.conv_block.2', norm, dim)
    _conv(out, prefix + '.conv_block.5', dim, dim, 3)
    _norm(out, prefix + '.conv_block.6', norm, dim)


def _global_layers(out, prefix, cin, cout, ngf, n_down, n_blocks, norm, with_output=True):
    i = 1
    _conv(out, '%s.%d' % (prefix, i), cin, ngf, 7); _norm(out, '%s.%d' % (prefix, i + 1), norm, ngf); i += 3
    for d in range(n_down):
        c = ngf * 2 ** d
        _conv(out, '%s.%d' % (prefix, i), c, 2 * c, 3); _norm(out, '%s.%d' % (prefix, i + 1), norm, 2 * c); i += 3
    for _ in range(n_blocks):
        _resnet_block(out, '%s.%d' % (prefix, i), ngf * 2 ** n_down, norm); i += 1
    for u in range(n_down):
        c = ngf * 2 ** (n_down - u)
        _conv_t(out, '%s.%d' % (prefix, i), c, c // 2, 3); _norm(out, '%s.%d' % (prefix, i + 1), norm, c // 2); i += 3
    if with_output:
        _conv(out, '%s.%d' % (prefix, i + 1), ngf, cout, 7)


def label_channels(c):
    return c['label_nc'] if c['label_nc'] != 0 else 3


def generator_shapes(c):
    cin = label_channels(c) + (1 if c['instance'] else 0) + (c['feat_num'] if c['instance_feat'] else 0)
    out = collections.OrderedDict()
    if c['netG'] == 'global':
        _global_layers(out, 'model', cin, c['output_nc'], c['ngf'], c['n_downsample_global'], c['n_blocks_global'], c['norm'])
        return out
    n_le = c['n_local_enhancers']
    _global_layers(out, 'model', cin, c['output_nc'], c['ngf'] * 2 ** n_le, c['n_downsample_global'], c['n_blocks_global'], c['norm'], with_output=False)
    for n in range(1, n_le + 1):
        ch = c['ngf'] * 2 ** (n_le - n)
        p = 'model%d_1' % n
        _conv(out, p + '.1', cin, ch, 7); _norm(out, p + '.2', c['norm'], ch)
        _conv(out, p + '.4', ch, 2 * ch, 3); _norm(out, p + '.5', c['norm'], 2 * ch)
        p = 'model%d_2' % n
        for b in range(c['n_blocks_local']):
            _resnet_block(out, '%s.%d' % (p, b), 2 * ch, c['norm'])
        i = c['n_blocks_local']
        _conv_t(out, '%s.%d' % (p, i), 2 * ch, ch, 3); _norm(out, '%s.%d' % (p, i + 1), c['norm'], ch)
        if n == n_le:
            _conv(out, '%s.%d' % (p, i + 4), c['ngf'], c['output_nc'], 7)
    return out


def encoder_shapes(c):
    out = collections.OrderedDict()
    n, nef = c['n_downsample_E'], c['nef']
    i = 1
    _conv(out, 'model.%d' % i, c['output_nc'], nef, 7); _norm(out, 'model.%d' % (i + 1), c['norm'], nef); i += 3
    for d in range(n):
        ch = nef * 2 ** d
        _conv(out, 'model.%d' % i, ch, 2 * ch, 3); _norm(out, 'model.%d' % (i + 1), c['norm'], 2 * ch); i += 3
    for u in range(n):
        ch = nef * 2 ** (n - u)
        _conv_t(out, 'model.%d' % i, ch, ch // 2, 3); _norm(out, 'model.%d' % (i + 1), c['norm'], ch // 2); i += 3
    _conv(out, 'model.%d' % (i + 1), nef, c['feat_num'], 7)
    return out


def discriminator_shapes(c, flat=False):
    """scale{s}_layer{j}.{m} (trained with GAN feature loss) or layer{s}.{flat} (--no_ganFeat_loss)."""
    cin = label_channels(c) + (1 if c['instance'] else 0) + c['output_nc']
    out = collections.OrderedDict()
    for s in range(c['num_D']):
        groups = []  # per group: list of (kind, args) with module index inside the group
        nf = c['ndf']
        groups.append([('conv', cin, nf, 0)])
        for _ in range(1, c['n_layers_D']):
            prev, nf = nf, min(nf * 2, 512)
            groups.append([('conv', prev, nf, 0), ('norm', nf, 1)])
        prev, nf = nf, min(nf * 2, 512)
        groups.append([('conv', prev, nf, 0), ('norm', nf, 1)])
        groups.append([('conv', nf, 1, 0)])
        flat_index = 0
        for j, group in enumerate(groups):
            size = 2 if j == 0 else (1 if j == len(groups) - 1 else 3)
            for entry in group:
                m = entry[-1]
                name = ('layer%d.%d' % (s, flat_index + m)) if flat else ('scale%d_layer%d.%d' % (s, j, m))
                if entry[0] == 'conv':
                    _conv(out, name, entry[1], entry[2], 4)
                else:
                    _norm(out, name, c['norm'], entry[1])
            flat_index += size
    return out


HINTS = {
    'G': 'label_nc / instance (no_instance) / instance_feat / feat_num set the input channels; netG, ngf, n_downsample_global, n_blocks_global, n_local_enhancers, n_blocks_local, norm the rest',
    'D': 'num_D, n_layers_D, ndf, norm, and the input channels (label_nc, instance, output_nc)',
    'E': 'nef, n_downsample_E, feat_num, norm, output_nc',
}


def _first_conv_hint(net, state, config):
    """What the file's first convolution says about the options it was trained with."""
    weight = state.get('model.1.weight')
    if net not in ('G', 'E') or weight is None or len(weight.shape) != 4:
        return ''
    out_channels, in_channels = int(weight.shape[0]), int(weight.shape[1])
    if net == 'E':
        return '; the file\'s model.1.weight says nef %d, %d input channels' % (out_channels, in_channels)
    local = any(k.startswith('model1_1.') for k in state)
    width = ('ngf %d (netG global)' % out_channels) if not local else (
        'netG local with ngf * 2^n_local_enhancers = %d' % out_channels)
    return '; the file\'s model.1.weight says %s and %d input channels (label_nc [3 if 0] + 1 with instance maps + feat_num with instance_feat)' % (width, in_channels)


def check_state_dict(net, state, expected, source, config):
    """Names and shapes against the config; adds missing num_batches_tracked. Returns an ordered dict."""
    result = collections.OrderedDict()
    for key, shape in expected.items():
        if key not in state:
            if key.endswith('.num_batches_tracked'):
                result[key] = np.zeros((), dtype=np.int64)  # PyTorch < 0.4.1 did not save it
                continue
            raise ConvertError('%s: has no tensor "%s", which the config needs (%s). Config: %s' % (
                source, key, HINTS[net], json.dumps(config)))
        value = state[key]
        if tuple(value.shape) != tuple(shape):
            raise ConvertError('%s: tensor "%s" has shape %s but the config needs %s (check %s%s). Config: %s' % (
                source, key, list(value.shape), list(shape), HINTS[net], _first_conv_hint(net, state, config), json.dumps(config)))
        result[key] = value
    extra = [k for k in state if k not in expected]
    if extra:
        raise ConvertError('%s: %d tensor(s) the config does not have, first "%s" (check %s). Config: %s' % (
            source, len(extra), extra[0], HINTS[net], json.dumps(config)))
    return result


def load_state_dict(path, net):
    torch = _torch()
    if not os.path.isfile(path):
        raise ConvertError('%s: no such file (--net%s)' % (path, net))
    try:
        obj = torch.load(path, map_location='cpu')
    except Exception as e:  # corrupt or not a torch file
        raise ConvertError('%s: cannot load as a PyTorch file (%s)' % (path, str(e).splitlines()[0] if str(e) else type(e).__name__))
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if isinstance(obj, dict) and 'state_dict' in obj and isinstance(obj['state_dict'], dict):
        obj = obj['state_dict']
    if not isinstance(obj, dict) or not all(hasattr(v, 'shape') for v in obj.values()):
        raise ConvertError('%s: not a state_dict (a dict of tensors)' % path)
    state = collections.OrderedDict()
    for key, value in obj.items():
        if key.startswith('module.'):  # saved from a DataParallel wrapper
            key = key[len('module.'):]
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.float()
        state[key] = value.numpy()
    return state


# ---------------------------------------------------------------------------
# safetensors, the small subset p2phd uses (F32 and I64, little-endian).

NP_DTYPES = {'F32': np.dtype('<f4'), 'I64': np.dtype('<i8'), 'F64': np.dtype('<f8'), 'I32': np.dtype('<i4'),
             'U8': np.dtype('u1'), 'U16': np.dtype('<u2'), 'BOOL': np.dtype('u1')}


def _dtype_name(array):
    if array.dtype.kind == 'f':
        return 'F32'
    if array.dtype.kind in 'iu':
        return 'I64'
    raise ConvertError('cannot store a tensor of dtype %s' % array.dtype)


def write_safetensors(path, tensors, p2phd_meta):
    header = collections.OrderedDict()
    header['__metadata__'] = {'p2phd': json.dumps(p2phd_meta, separators=(',', ':'))}
    blobs = []
    offset = 0
    for name, array in tensors.items():
        dtype = _dtype_name(array)
        data = np.ascontiguousarray(array, dtype=NP_DTYPES[dtype]).tobytes()
        header[name] = {'dtype': dtype, 'shape': [int(d) for d in array.shape], 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * (-len(text) % 8)  # data aligned to 8 bytes, as the reference implementation pads
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(struct.pack('<Q', len(text)))
            f.write(text)
            for blob in blobs:
                f.write(blob)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_safetensors(path):
    try:
        with open(path, 'rb') as f:
            raw = f.read()
    except OSError as e:
        raise ConvertError('%s: cannot read (%s)' % (path, e.strerror))
    if len(raw) < 8:
        raise ConvertError('%s: too short for a safetensors file' % path)
    (n,) = struct.unpack('<Q', raw[:8])
    if n > len(raw) - 8:
        raise ConvertError('%s: header length %d runs past the end of the file (%d bytes)' % (path, n, len(raw)))
    try:
        header = json.loads(raw[8:8 + n].decode('utf-8'))
    except (UnicodeDecodeError, ValueError):
        raise ConvertError('%s: header is not JSON: not a safetensors file' % path)
    meta = header.pop('__metadata__', {}) or {}
    data = raw[8 + n:]
    tensors = collections.OrderedDict()
    for name, info in sorted(header.items(), key=lambda item: item[1]['data_offsets'][0]):
        dtype = NP_DTYPES.get(info.get('dtype'))
        begin, end = info['data_offsets']
        count = int(np.prod(info['shape'])) if info['shape'] else 1
        if dtype is None or end > len(data) or begin < 0 or end - begin != count * dtype.itemsize:
            raise ConvertError('%s: tensor "%s" has a bad dtype or offsets' % (path, name))
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(tuple(info['shape'])).copy()
    # Keep the header's own order (p2phd writes state_dict order).
    ordered = collections.OrderedDict((name, tensors[name]) for name in header)
    return ordered, meta


def read_p2phd_meta(path, meta, kind):
    if 'p2phd' not in meta:
        raise ConvertError('%s: not a p2phd file (no "p2phd" metadata entry)' % path)
    try:
        p2phd = json.loads(meta['p2phd'])
    except ValueError:
        raise ConvertError('%s: the "p2phd" metadata entry is not JSON' % path)
    if p2phd.get('kind') != kind:
        raise ConvertError('%s: is a %s file, expected a %s file' % (path, p2phd.get('kind'), kind))
    return p2phd


# ---------------------------------------------------------------------------
# Commands.

def to_p2phd(args):
    opts = parse_opt_txt(args.opt) if args.opt else {}
    config = config_from_opt(opts, args.opt) if args.opt else {}
    if args.config:
        try:
            overrides = json.loads(args.config)
        except ValueError as e:
            raise ConvertError('--config: not valid JSON (%s)' % e, USAGE_ERROR)
        if not isinstance(overrides, dict):
            raise ConvertError('--config: expected a JSON object of config keys', USAGE_ERROR)
        config.update(overrides)
    config = validate_config(config, '--config' if args.config else (args.opt or 'config'))
    if args.netE and not config['instance_feat']:
        raise ConvertError('--netE given but the config has no instance_feat (the reference saves E only with --instance_feat)', USAGE_ERROR)
    stage = args.stage or ('global' if config['netG'] == 'global' else 'local')

    tensors = collections.OrderedDict()
    state = load_state_dict(args.netG, 'G')
    for key, value in check_state_dict('G', state, generator_shapes(config), args.netG, config).items():
        tensors['G.' + key] = value
    if args.netD:
        state = load_state_dict(args.netD, 'D')
        flat = any(k.startswith('layer') for k in state)
        for key, value in check_state_dict('D', state, discriminator_shapes(config, flat), args.netD, config).items():
            tensors['D.' + key] = value
    if args.netE:
        state = load_state_dict(args.netE, 'E')
        for key, value in check_state_dict('E', state, encoder_shapes(config), args.netE, config).items():
            tensors['E.' + key] = value
    elif config['instance_feat']:
        sys.stderr.write('warning: instance_feat model without --netE: synthesize will need --clusters (no --use-encoded, no encode)\n')

    lr = args.lr if args.lr is not None else float(opts.get('lr', 0.0002))
    epoch = args.epoch
    if epoch is None:
        which = str(opts.get('which_epoch', 'latest'))
        epoch = int(which) if which.isdigit() else 0
    meta = collections.OrderedDict([('kind', 'checkpoint'), ('version', 1), ('stage', stage), ('epoch', epoch),
                                    ('step', args.step), ('lr', lr), ('config', config)])
    write_safetensors(args.out, tensors, meta)
    nets = sorted({k[0] for k in tensors})
    sys.stderr.write('%s: %s (%d tensors, stage %s), config %s\n' % (args.out, '+'.join(nets), len(tensors), stage, json.dumps(config)))


def reference_flags(config):
    flags = ['--label_nc', str(config['label_nc']), '--netG', config['netG'], '--ngf', str(config['ngf']),
             '--n_downsample_global', str(config['n_downsample_global']), '--n_blocks_global', str(config['n_blocks_global']),
             '--norm', config['norm'], '--output_nc', str(config['output_nc'])]
    if config['netG'] == 'local':
        flags += ['--n_local_enhancers', str(config['n_local_enhancers']), '--n_blocks_local', str(config['n_blocks_local'])]
    if not config['instance']:
        flags.append('--no_instance')
    if config['instance_feat']:
        flags += ['--instance_feat', '--feat_num', str(config['feat_num']), '--nef', str(config['nef']),
                  '--n_downsample_E', str(config['n_downsample_E'])]
    return flags


def to_pytorch(args):
    torch = _torch()
    tensors, meta = read_safetensors(args.checkpoint)
    p2phd = read_p2phd_meta(args.checkpoint, meta, 'checkpoint')
    if not isinstance(p2phd.get('config'), dict):
        raise ConvertError('%s: checkpoint metadata has no config' % args.checkpoint)
    config = validate_config(p2phd['config'], '%s config' % args.checkpoint)
    nets = collections.OrderedDict()
    for name, value in tensors.items():
        net, dot, key = name.partition('.')
        if net not in ('G', 'D', 'E') or not dot:
            raise ConvertError('%s: tensor "%s" belongs to no network (G., D. or E.)' % (args.checkpoint, name))
        nets.setdefault(net, collections.OrderedDict())[key] = value
    if 'G' not in nets:
        raise ConvertError('%s: holds no G.* tensors' % args.checkpoint)
    expected = {'G': generator_shapes(config), 'E': encoder_shapes(config)}
    os.makedirs(args.out_dir, exist_ok=True)
    written = []
    for net, state in nets.items():
        shapes = expected.get(net) or discriminator_shapes(config, any(k.startswith('layer') for k in state))
        checked = check_state_dict(net, state, shapes, args.checkpoint, config)
        out = collections.OrderedDict()
        for key, value in checked.items():
            t = torch.from_numpy(np.array(value, copy=True))  # (ascontiguousarray makes 0-d arrays 1-d)
            out[key] = t.to(torch.int64) if key.endswith('num_batches_tracked') else t.to(torch.float32)
        path = os.path.join(args.out_dir, 'latest_net_%s.pth' % net)
        torch.save(out, path)
        written.append(path)
    flags = reference_flags(config)
    with open(os.path.join(args.out_dir, 'opt.txt'), 'w') as f:
        f.write('------------ Options -------------\n')
        ref = dict(config)
        ref['no_instance'] = not ref.pop('instance')
        for key in sorted(ref):
            f.write('%s: %s\n' % (key, ref[key]))
        f.write('-------------- End ----------------\n')
    for path in written:
        sys.stderr.write('wrote %s\n' % path)
    sys.stderr.write('reference test.py flags: --checkpoints_dir %s --name %s %s\n' % (
        os.path.dirname(os.path.abspath(args.out_dir)), os.path.basename(os.path.abspath(args.out_dir)), ' '.join(flags)))


def clusters_to_p2phd(args):
    try:
        obj = np.load(args.npy, allow_pickle=True, encoding='latin1')
    except (OSError, ValueError) as e:
        raise ConvertError('%s: cannot load as .npy (%s)' % (args.npy, e))
    centers = obj.item() if isinstance(obj, np.ndarray) and obj.dtype == object else obj
    if not isinstance(centers, dict):
        raise ConvertError('%s: expected the dict {label: centres} that encode_features.py saves' % args.npy)
    tensors = collections.OrderedDict()
    feat_num = None
    for label in sorted(centers, key=int):
        value = np.asarray(centers[label], dtype=np.float64)
        if value.ndim != 2 or value.shape[0] < 1:
            continue  # a class without centres
        if feat_num is None:
            feat_num = value.shape[1]
        if value.shape[1] != feat_num:
            raise ConvertError('%s: class %s has %d feature columns, others %d' % (args.npy, label, value.shape[1], feat_num))
        tensors['centers.%d' % int(label)] = value.astype(np.float32)
    k = max([t.shape[0] for t in tensors.values()] or [0])
    meta = collections.OrderedDict([('kind', 'clusters'), ('version', 1), ('k', args.k if args.k is not None else k),
                                    ('min_area', 0.5), ('seed', 0), ('feat_num', feat_num or 0)])
    write_safetensors(args.out, tensors, meta)
    sys.stderr.write('%s: %d classes with centres\n' % (args.out, len(tensors)))


def clusters_to_pytorch(args):
    tensors, meta = read_safetensors(args.clusters)
    read_p2phd_meta(args.clusters, meta, 'clusters')
    centers = {}
    for name, value in tensors.items():
        if not name.startswith('centers.'):
            raise ConvertError('%s: unexpected tensor "%s"' % (args.clusters, name))
        centers[int(name[len('centers.'):])] = value.astype(np.float64)
    out = args.out if args.out.endswith('.npy') else args.out + '.npy'
    np.save(out, centers)
    sys.stderr.write('%s: %d classes (the reference reads it with --cluster_path)\n' % (out, len(centers)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog='See the module docstring (head of this file) for details.')
    sub = parser.add_subparsers(dest='command')
    p = sub.add_parser('to-p2phd', help='PyTorch pix2pixHD .pth state_dicts -> one p2phd checkpoint')
    p.add_argument('--netG', required=True, help='latest_net_G.pth')
    p.add_argument('--netD', help='latest_net_D.pth (optional; needed to resume training)')
    p.add_argument('--netE', help='latest_net_E.pth (instance_feat models)')
    p.add_argument('--opt', help="the reference's checkpoints/NAME/opt.txt")
    p.add_argument('--config', help='JSON object of p2phd config keys overriding opt.txt, e.g. \'{"ngf": 32}\'')
    p.add_argument('--stage', choices=STAGES, help='checkpoint stage (default: global for netG global, local for local)')
    p.add_argument('--epoch', type=int, help='default: which_epoch from opt.txt when numeric, else 0')
    p.add_argument('--step', type=int, default=0)
    p.add_argument('--lr', type=float, help='default: lr from opt.txt, else 0.0002')
    p.add_argument('--out', required=True, help='the p2phd checkpoint to write (.safetensors)')
    p = sub.add_parser('to-pytorch', help='a p2phd checkpoint -> latest_net_{G,D,E}.pth + opt.txt in a folder')
    p.add_argument('checkpoint')
    p.add_argument('--out-dir', required=True)
    p = sub.add_parser('clusters-to-p2phd', help="encode_features.py's features_clustered_NNN.npy -> a p2phd clusters file")
    p.add_argument('npy')
    p.add_argument('--k', type=int, help='recorded k (default: the largest k_c)')
    p.add_argument('--out', required=True)
    p = sub.add_parser('clusters-to-pytorch', help='a p2phd clusters file -> the reference\'s features_clustered .npy')
    p.add_argument('clusters')
    p.add_argument('--out', required=True)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return USAGE_ERROR
    try:
        if args.command == 'to-p2phd':
            if args.epoch is not None and args.epoch < 0 or args.step < 0:
                raise ConvertError('--epoch and --step must be >= 0', USAGE_ERROR)
            to_p2phd(args)
        elif args.command == 'to-pytorch':
            to_pytorch(args)
        elif args.command == 'clusters-to-p2phd':
            clusters_to_p2phd(args)
        else:
            clusters_to_pytorch(args)
    except ConvertError as e:
        sys.stderr.write('convert_checkpoint.py %s: %s\n' % (args.command, e))
        return e.code
    return 0


if __name__ == '__main__':
    sys.exit(main())
