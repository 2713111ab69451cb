#!/usr/bin/python3
"""Convert style clusters between PyTorch pix2pixHD and p2phd.

Checkpoints need no Python any more: `p2phd import` reads the reference's
latest_net_*.pth + opt.txt, and `p2phd export --format pytorch` writes them.
What stays here is the reference's clusters file, a pickled numpy dict that
p2phd does not read itself:

    python3 scripts/convert_clusters.py clusters-to-p2phd features_clustered_010.npy --out clusters.safetensors
    python3 scripts/convert_clusters.py clusters-to-pytorch clusters.safetensors --out features_clustered_010.npy

between the reference's encode_features.py output ({label: centres} in an
.npy) and p2phd's clusters file (`centers.<class>` F32 [k_c, feat_num]).
Needs numpy only (the safetensors codec is below).

Exit status: 0 done, 2 bad usage, 3 bad input (unreadable or mismatched files).
"""
import argparse
import collections
import json
import os
import struct
import sys
import tempfile

try:
    import numpy as np
except ImportError:  # pragma: no cover
    sys.stderr.write('convert_clusters.py needs numpy (pip install numpy)\n')
    sys.exit(2)

USAGE_ERROR = 2
INPUT_ERROR = 3


class ConvertError(Exception):
    def __init__(self, message, code=INPUT_ERROR):
        super().__init__(message)
        self.code = code


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
        if args.command == 'clusters-to-p2phd':
            clusters_to_p2phd(args)
        else:
            clusters_to_pytorch(args)
    except ConvertError as e:
        sys.stderr.write('convert_clusters.py %s: %s\n' % (args.command, e))
        return e.code
    return 0


if __name__ == '__main__':
    sys.exit(main())
