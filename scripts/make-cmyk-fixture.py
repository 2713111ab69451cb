"""Writes test/audit/fixtures/cmyk.jpg (a 12x8 CMYK JPEG, Adobe-marked, as print workflows save photos)
and prints what PIL's convert('RGB') makes of it, whole and resized to 6x4 with BICUBIC, as the
golden values test/audit/files.test.ts holds. A dev script: run with Debian's python3-pil
(/usr/bin/python3, Pillow 9.4, the reference's convert), not by tests.
"""
import json
import os
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'test', 'audit', 'fixtures', 'cmyk.jpg')

width, height = 12, 8
image = Image.new('CMYK', (width, height))
image.putdata([
    ((x * 23) % 256, (y * 37) % 256, ((x + y) * 19) % 256, ((x * y) * 11) % 200)
    for y in range(height) for x in range(width)
])
image.save(OUT, quality=95, subsampling=0)

decoded = Image.open(OUT)
assert decoded.mode == 'CMYK', decoded.mode
rgb = decoded.convert('RGB')
print(json.dumps({
    'pil': Image.__version__ if hasattr(Image, '__version__') else None,
    'rgb': [v for px in rgb.getdata() for v in px],
    'rgb6x4': [v for px in rgb.resize((6, 4), Image.BICUBIC).getdata() for v in px],
}))
