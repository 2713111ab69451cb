"""A stand-in for torchvision 0.2, for running the reference pix2pixHD's data
and model code on a machine without torchvision: the transforms its
base_dataset.py uses (PIL images only) and an empty models module. Shared by
scripts/reference_preprocess.py and scripts/reference_synthesis.py; dev
tools, not part of `npm test`.
"""
import sys
import types

import numpy as np
from PIL import Image


def install():
    """torchvision 0.2's transforms as base_dataset.py uses them (PIL images only)."""
    import torch

    class Compose:
        def __init__(self, transforms):
            self.transforms = transforms

        def __call__(self, img):
            for t in self.transforms:
                img = t(img)
            return img

    class Lambda:
        def __init__(self, fn):
            self.fn = fn

        def __call__(self, img):
            return self.fn(img)

    class Scale:
        def __init__(self, size, interpolation=Image.BILINEAR):
            self.size, self.interpolation = size, interpolation

        def __call__(self, img):
            if isinstance(self.size, int):
                w, h = img.size
                if w <= h:
                    return img.resize((self.size, int(self.size * h / w)), self.interpolation)
                return img.resize((int(self.size * w / h), self.size), self.interpolation)
            return img.resize(tuple(self.size[::-1]), self.interpolation)

    class ToTensor:
        def __call__(self, pic):
            # torchvision 0.2: mode I -> int32, I;16 -> int16, else bytes / 255.
            if pic.mode == 'I':
                img = torch.from_numpy(np.array(pic, np.int32))
            elif pic.mode == 'I;16':
                img = torch.from_numpy(np.array(pic, np.int16))
            elif pic.mode == 'F':
                img = torch.from_numpy(np.array(pic, np.float32))
            else:
                img = torch.ByteTensor(torch.ByteStorage.from_buffer(pic.tobytes()))
            nchannel = {'YCbCr': 3, 'I;16': 1}.get(pic.mode, len(pic.mode))
            img = img.view(pic.size[1], pic.size[0], nchannel).transpose(0, 1).transpose(0, 2).contiguous()
            if isinstance(img, torch.ByteTensor) or img.dtype == torch.uint8:
                return img.float().div(255)
            return img

    class Normalize:
        def __init__(self, mean, std):
            self.mean, self.std = mean, std

        def __call__(self, tensor):
            for t, m, s in zip(tensor, self.mean, self.std):
                t.sub_(m).div_(s)
            return tensor

    tv = types.ModuleType('torchvision')
    tv.transforms = types.ModuleType('torchvision.transforms')
    for cls in (Compose, Lambda, Scale, ToTensor, Normalize):
        setattr(tv.transforms, cls.__name__, cls)
    tv.transforms.Resize = Scale
    tv.models = types.ModuleType('torchvision.models')
    sys.modules.setdefault('torchvision', tv)
    sys.modules.setdefault('torchvision.transforms', tv.transforms)
    sys.modules.setdefault('torchvision.models', tv.models)
