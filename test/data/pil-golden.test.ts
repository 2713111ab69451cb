/**
 * Golden values from real PIL (Pillow 9.4, the library the reference's loader
 * resizes with), so CI, which has no PIL, still checks that the nearest and
 * bicubic resizes reproduce it bit for bit. Each constant's comment says how
 * it was made (/usr/bin/python3); scripts/check-reference-preprocess.sh runs
 * the full comparison on real Cityscapes data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { nearestIndices } from '../../src/data/formats/nearest.js';
import { resizeBicubic } from '../../src/data/formats/bicubic.js';
import { readRgbImage } from '../../src/data/formats/image.js';

/**
 * FNV-1a (32-bit) over PIL's nearest source indices, src and dst in 1..64:
 *   h = 0x811c9dc5; for src: row = Image.fromarray(np.arange(src, dtype=np.int32)[None], 'I')
 *     for dst: for v in np.asarray(row.resize((dst, 1), Image.NEAREST))[0]: h = ((h ^ v) * 0x01000193) & 0xffffffff
 * The range holds hundreds of ties where PIL's running sum departs from
 * exact arithmetic (2 -> 7 and 292 -> 286 in resize.test.ts are two).
 */
const PIL_NEAREST_FNV = 0x2a40b226;

test("nearestIndices equals PIL's NEAREST for every size pair in 1..64", () => {
  let hash = 0x811c9dc5;
  for (let src = 1; src <= 64; src++) {
    for (let dst = 1; dst <= 64; dst++) {
      for (const index of nearestIndices(src, dst)) hash = Math.imul(hash ^ index, 0x01000193) >>> 0;
    }
  }
  assert.equal(hash, PIL_NEAREST_FNV);
});

const W = 13;
const H = 9;
/** A textured 13x9 RGB pattern with steep steps (overshoot, clamping): (x*37 + y*91 + c*53 + ((x*y*13) % 29) * 7) % 256. */
function pattern(): Uint8Array {
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < 3; c++) data[(y * W + x) * 3 + c] = (x * 37 + y * 91 + c * 53 + ((x * y * 13) % 29) * 7) % 256;
    }
  }
  return data;
}

/** base64 of np.asarray(Image.fromarray(pattern, 'RGB').resize((w, h), Image.BICUBIC)).tobytes(), keyed 'WxH'. */
const PIL_BICUBIC: Record<string, string> = {
  '5x4': 'Z26HeKiinX5sbHGBjKVfdpKYl4B1xkBwmURroGJtcod5a5hzcFllm4xVcH2Mo398kpR6W3h9oomAjaZw',
  '29x17': 'ACleADNoB0p/GWOYL2+kR32yXZDFcqbbgLX0jMH/ntfbs/1dyOkR5msl4ABKfABWByhfAEBzC1iLIGiiNnG4TH/LZJjpea7dhrt1kscIqd4AvvMSx/waD0iFGkaCOkF4VEZ7UmObTIC8S4XCUIbCZZndhbr+ls/pld6Fn84+yoo011BBhkpiJVeIJVSRUk6IZmCHaYmJZ6CXXprEXprLebZtl9QLpd8Tqd9Fq99XPojOWW+xnjFrxRJHl02JWIjMLXK4E0qOMmasea70icH/XZ/PU5WVlcNRx+cxnNd6ZLDViHjI2DuD6lFTybYumt0zUpx9LXKmY6hdpOgSndxIfLOmcKTMfsWVkKuQu2uD0Ed7p3mEc66JUZpsPnVNVZBljdCjmsq4eXGmckqGoodRy8E1xbVusI+3r2OuszR5r0ZRk5YwerEuZ3RgaEqAmnNW0Kcvn55hTH6uLnPNufAWs+VDpMqymLnrlsaJmNgandsHpNkVrOshtv8yvtc7xVM9zQM/1Q1C3ShH8itS9ytfqS9nLzRrCz1uC0xvLEtsjzZj4SZb+C1Y/zpco0JqJkd7AEuDdqkfeLFPfcbFi83/raqOyo4Yw7ArsuBmvt5g3Lk225IztVxZqTVx0Blj7xJZ5S1ux0+FlUZ5VihcOjBpI1yeOmOrqTF1+g1P4CBruz2RkjiBaihhXyNWCz9qH1eET5bIh7HmwmOU6iFNx12IkLfjpqHM6UZx4jVihXKlYo7DuViO/TFnwmGXcJvQgXGmwBhNvSJWgoS5dKHXuUuF4A5KmD15T3ezfF2W0Cdd8hJHJlyzL2a3RITEXYzBfViTkixyeEyaUn/TXXLEhkCJmTN4lE6ToVib2jt3/ydc2UF0ol+Tr0B63QZJ4AhNv0KEr2WMvmZJvWwZi5E4XbBfg51/xXid32mgcabbZZrPSH2yMGWaLGGWLWKXK2CVKV6TIF2SFl2SQk+ErDBl8RtQ8RhN5BlO4hdM4BVK3RJH2xBF2glE2gBEzx05soIcmtMEldsAlswAlMlfksfdkcb/u+d7m9J+TIyFE1qUIWi5QYbNYp+jfLJlXZlkGWWHLFl8nns/2IIgn084ZiVacDF4j1CLqWltv382t28ykTtcfTx7hJmLldiGuatR0W4dqnhabZvAVajf0/wosOM5WYheIU2KQHDAdKnZp92Xzf86oNQ/Om99LWN9gbs4ntoXRoM7ADdsE0qfTH/AfbGKpuAomNUiUo9tN3WwXafpjb35wm6r4RtXpSpkSl6VJXKnXJxZZYRaezZZjhhblXdpnN9rsf89wvoKnM8uUoaHNm2lToyEUZVuIW92B0l+RTF7ljBvtG9Ns9UhoPIWeM8pYLNRYKqmZZfccmi1dzx+UTh7H0aMCkqTD16hN06NliJe3x4z3H8lxN8gsusRnNIMgblEY5miToPHRHmxOG+aHWKSG1CFZSFkvANAzkctu8YhsvQRsNwAnLwSbJhsQnqyNHG5L2+nJ2SSI1p9IVV0R5nrYZ3Dn6lj16ga+Ykk+m5FuHlYX5NxS56kY6Dje6/amM2AkcdIRH5ZCj90JTaGXUyNh4tkreIjz98P74oj3FpFeWV9LXivNIbWVJXhbaiohLpYjsI3jJjjk63DoeR1tvE+25JR6TZ1rjOLXVegVH27eavUmdG7u/JmsOU2UYdMBTpvFkGSSmuqdqSMouNQyM1F6mZj3y9+j0ONVGmdY5LDiL3VpdySvfM0yP0Nyytkvkh0npOZgsK0cp2xcWiijT6KsiVtu1dZsb1Mn+FYhcJ+ZZqWLnCPGE2CXzh1ujZuw2uLorq4jsfJg5e/i2ussUOMzT9xyY9rvOljsvU/quEUp9wD6gAi0xNLnWeraKbxPaHiM4O4fUaH3w1R8UUlzsUGoekmaKiMPHLJHGOyIVaLhTNl9RpO7E2JoqXtcMT/TbHtX4vCwkSL/ypb/Y491f4ot/8UntYGk8gA',
  '7x20': 'BER5U4zLp9y0pUI3CkyUaJ6+r+QSIUd9UoLBl866oGBFMlaQaqCnptwnZkiHT2evb6zPkqtplG+Fbqlyj85an1+NWWaQX5XElsd+y3h6d55Mf66AraSIfapZkKJvxWdih1Zwi2RSgm95pdmFouE2wqwq6w1LQzdrnDJlizlsgbaQvLtbx5JN1yZrXEJ6oTZ+lixwU3mhxHaXtmyRs1+WlVaKoFGPojt4RW2wkFyll1Scw1GIvTt4p2dmoHJ7S329OVuabEWH7SBZ2wlRsX4clcF9Vo+sKG+ZXVZw0iNMzR9JqYookcN+aKZ+W5qiaYlScFlekH5gkIqLlnZ/dJ5hibqPbKZPNXBud7dfe4+8hEaDdVxfqMtHWZp0PFB6nq8yap6TREKOejhmvMYZT5GXSjl/wKAVZKFvIFeVj3t1vJk8ZamoQ1V1uKIpc4R+TZGWpceGsWhzgsGpPHVrqKRRi2OWjc6Lp6uOnlyIkrqIRmx1opmEoGSVquBdoWuRimGOnKdbVlWFoIu2s3GLt90mnlKTgWKSoKBIXUuMn4XMu3aIvt4P',
  '13x4': 'SX6Bik2CYpqdU4iLndXYiZRj03o9X2qfd0R5aaVoaW+strodc6t6YZZ4dKLZoGZTd6yVr3VaoUeC8S9VsV+UmxNNb2aUz0U6mntqjFKQd7SBXkVrgqSRjMlHLl+kmJZMPDZskkh9wbQbiG9WcrSpkF5dTH2sj16Wq65wr3J1kmFnj8STd7R6DEl+n0N4peJ2rHZ5hlWSi8OZkscj',
};

function golden(key: string): Uint8Array {
  return new Uint8Array(Buffer.from(PIL_BICUBIC[key]!, 'base64'));
}

test("resizeBicubic equals PIL's BICUBIC bit for bit: shrink, enlarge, mixed, one axis", () => {
  const source = pattern();
  for (const key of Object.keys(PIL_BICUBIC)) {
    const [w, h] = key.split('x').map(Number) as [number, number];
    assert.deepEqual(resizeBicubic(source, W, H, 3, w, h), golden(key), key);
  }
});

test('readRgbImage enlarges a PNG exactly as PIL (decode, then resizeBicubic)', async () => {
  // Shrinking goes through sharp, within 2 grey levels of PIL on photos, not bit for bit: see image.ts.
  const dir = mkdtempSync(join(tmpdir(), 'p2phd-pil-'));
  try {
    const file = join(dir, 'pattern.png');
    await sharp(Buffer.from(pattern()), { raw: { width: W, height: H, channels: 3 } }).png().toFile(file);
    const enlarged = await readRgbImage(file, { target: () => ({ width: 29, height: 17 }) });
    assert.deepEqual(enlarged.data, golden('29x17'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
