import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { DetkdError } from '../core/errors.ts';
import { decodeImageBytes, decodeImageFile, encodeJpeg, encodePng, readImageSize } from './decode.ts';

const dir = mkdtempSync(join(tmpdir(), 'detkd-decode-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const pattern = (h: number, w: number): Uint8Array =>
  Uint8Array.from({ length: h * w * 3 }, (_, i) => (i * 7) % 256);

test('PNG round trip is exact; header read gives the size', async () => {
  const data = pattern(5, 7);
  const p = join(dir, 'x.png');
  writeFileSync(p, await encodePng({ data, height: 5, width: 7 }));
  const img = await decodeImageFile(p);
  assert.deepEqual([img.height, img.width], [5, 7]);
  assert.deepEqual(Array.from(img.data), Array.from(data));
  assert.deepEqual(await readImageSize(p), { height: 5, width: 7, format: 'png' });
});

test('JPEG decodes to RGB close to the source', async () => {
  const data = new Uint8Array(16 * 16 * 3);
  for (let i = 0; i < 16 * 16; i++) data.set([200, 40, 90], 3 * i);
  const p = join(dir, 'x.jpg');
  writeFileSync(p, await encodeJpeg({ data, height: 16, width: 16 }, 95));
  const img = await decodeImageFile(p);
  assert.deepEqual([img.height, img.width, img.data.length], [16, 16, 768]);
  for (const [c, v] of [200, 40, 90].entries())
    assert.ok(Math.abs(img.data[c]! - v) <= 4, `channel ${c}: ${img.data[c]}`);
});

test('grey images expand to 3 channels and alpha is dropped', async () => {
  const grey = await sharp(Uint8Array.from([0, 128, 255, 64]), { raw: { width: 2, height: 2, channels: 1 } })
    .png()
    .toBuffer();
  const g = await decodeImageBytes(grey, 'grey.png');
  assert.deepEqual(Array.from(g.data), [0, 0, 0, 128, 128, 128, 255, 255, 255, 64, 64, 64]);
  const rgba = await sharp(Uint8Array.from([10, 20, 30, 0, 40, 50, 60, 255]), {
    raw: { width: 2, height: 1, channels: 4 },
  })
    .png()
    .toBuffer();
  const a = await decodeImageBytes(rgba, 'rgba.png');
  assert.deepEqual(Array.from(a.data), [10, 20, 30, 40, 50, 60]);
});

test('missing, corrupt and truncated files give a DetkdError naming the file', async () => {
  const missing = join(dir, 'missing.png');
  await assert.rejects(decodeImageFile(missing), (e: Error) => {
    assert.ok(e instanceof DetkdError);
    assert.equal(e.message, `${missing}: cannot read image (file not found)`);
    return true;
  });
  const bad = join(dir, 'bad.jpg');
  writeFileSync(bad, 'hello');
  await assert.rejects(decodeImageFile(bad), (e: Error) => {
    assert.ok(e instanceof DetkdError);
    assert.ok(e.message.startsWith(`${bad}: corrupt or unsupported image (`), e.message);
    return true;
  });
  await assert.rejects(
    readImageSize(bad),
    new RegExp(`${bad.replace(/[.]/g, '\\.')}: cannot read image header`),
  );
  await assert.rejects(readImageSize(missing), /file not found/);
  const png = await encodePng({ data: pattern(40, 40), height: 40, width: 40 });
  const trunc = join(dir, 'trunc.png');
  writeFileSync(trunc, png.subarray(0, png.length >> 1));
  await assert.rejects(
    decodeImageFile(trunc),
    (e: Error) => e instanceof DetkdError && e.message.startsWith(`${trunc}: corrupt`),
  );
  await assert.rejects(decodeImageFile(dir), /is a directory/);
});
