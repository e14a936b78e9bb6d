// A minimal PNG reader for tests (8-bit greyscale, RGB or RGBA, non-interlaced — what Chromium screenshots are):
// enough to tell a rendered figure from a blank rectangle. lib/data/image.ts only encodes.
import * as zlib from "node:zlib";

/** Decoded pixels: `data` is [height, width, channels] row-major, 8 bits per sample. */
export interface DecodedPng {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

/** Decodes `buf`; throws naming the unsupported feature for other PNG kinds. */
export function decodePng(buf: Buffer): DecodedPng {
  if (buf.length < 8 || buf.readUInt32BE(0) !== 0x89504e47) throw new Error("decodePng: not a PNG (bad signature)");
  let pos = 8;
  let width = 0, height = 0, channels = 0;
  const idat: Buffer[] = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString("ascii", pos + 4, pos + 8);
    const body = buf.subarray(pos + 8, pos + 8 + len);
    if (type === "IHDR") {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      const depth = body[8], colorType = body[9], interlace = body[12];
      channels = ({ 0: 1, 2: 3, 4: 2, 6: 4 } as Record<number, number>)[colorType] ?? 0;
      if (depth !== 8 || channels === 0 || interlace !== 0) throw new Error(`decodePng: unsupported PNG (bit depth ${depth}, colour type ${colorType}, interlace ${interlace})`);
    } else if (type === "IDAT") idat.push(body);
    else if (type === "IEND") break;
    pos += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const data = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = y * stride, prev = row - stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? data[row + x - channels] : 0;
      const b = y > 0 ? data[prev + x] : 0;
      const c = x >= channels && y > 0 ? data[prev + x - channels] : 0;
      let v: number;
      if (filter === 0) v = 0;
      else if (filter === 1) v = a;
      else if (filter === 2) v = b;
      else if (filter === 3) v = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        v = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else throw new Error(`decodePng: bad filter type ${filter} in row ${y}`);
      data[row + x] = (src[x] + v) & 255;
    }
  }
  return { width, height, channels, data };
}

/** Distinct colours and the fraction of pixels that differ from the most common colour (the background). */
export function pixelStats(img: DecodedPng): { distinctColours: number; nonBackground: number } {
  const counts = new Map<number, number>();
  const n = img.width * img.height;
  for (let i = 0; i < n; i++) {
    let key = 0;
    for (let ch = 0; ch < Math.min(img.channels, 3); ch++) key = key * 256 + img.data[i * img.channels + ch];
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const top = Math.max(...counts.values());
  return { distinctColours: counts.size, nonBackground: n === 0 ? 0 : 1 - top / n };
}
