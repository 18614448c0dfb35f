// Seeded fuzzing of the .pth reader: truncations and bit flips of torch.save's own files (both
// formats), and bit flips inside a zip's data.pkl with its CRC-32 fixed so that the pickle reader
// itself sees the damage. Every input must give a DetkdError or a successful read: never another
// exception, a crash or a hang. A failure names the seed, file and mutation to replay it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import { fixturePath } from '../../test/support/oracle.ts';
import { DetkdError } from '../core/errors.ts';
import { parsePth } from './pth.ts';
import { readZip } from './zip.ts';

const DIR = fixturePath('pth');
const FILES = [
  'tensors_zip.pth',
  'tensors_legacy.pth',
  'mmdet_zip.pth',
  'mmdet_legacy.pth',
  'model_zip.pth',
  'ddp_legacy.pth',
  'mmengine_zip.pth',
  'mmengine_legacy.pth',
];
const PER_FILE = 100;
/** Whole test; the issue allows 20 s. */
const BUDGET_MS = 20_000;
/** One read of a few-KB file that takes this long is a hang. */
const ONE_MS = 2_000;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Mutation = { what: string; bytes: Uint8Array };

function mutations(file: string, original: Uint8Array, rand: () => number): Mutation[] {
  const out: Mutation[] = [];
  const int = (n: number) => Math.floor(rand() * n);
  const pkl = file.endsWith('_zip.pth')
    ? readZip(original, file).get(`${file.slice(0, -'.pth'.length)}/data.pkl`)!
    : null;
  for (let k = 0; k < PER_FILE; k++) {
    const kind = k % 3;
    if (kind === 0) {
      const len = int(original.length);
      out.push({ what: `truncated to ${len} bytes`, bytes: original.slice(0, len) });
    } else if (kind === 1 || pkl === null) {
      const b = original.slice();
      const flips: number[] = [];
      for (let f = 1 + int(8); f > 0; f--) {
        const bit = int(b.length * 8);
        b[bit >> 3]! ^= 1 << (bit & 7);
        flips.push(bit);
      }
      out.push({ what: `bits ${flips.join(',')} flipped`, bytes: b });
    } else {
      // flip bits inside data.pkl and fix its CRC so the pickle reader gets the damage
      const b = original.slice();
      const start = pkl.data.byteOffset - original.byteOffset;
      const flips: number[] = [];
      for (let f = 1 + int(4); f > 0; f--) {
        const bit = int(pkl.data.length * 8);
        b[start + (bit >> 3)]! ^= 1 << (bit & 7);
        flips.push(bit);
      }
      const crc = crc32(b.subarray(start, start + pkl.data.length)) >>> 0;
      new DataView(b.buffer).setUint32(pkl.centralOffset + 16, crc, true);
      out.push({ what: `data.pkl bits ${flips.join(',')} flipped (CRC fixed)`, bytes: b });
    }
  }
  return out;
}

test('fuzzed .pth files give a DetkdError or a read, never another error or a hang', () => {
  const t0 = performance.now();
  const seed = 20261208;
  const rand = mulberry32(seed);
  const tally = { ok: 0, refused: 0 };
  const messages = new Set<string>();
  for (const file of FILES) {
    const original = new Uint8Array(readFileSync(join(DIR, file)));
    for (const m of mutations(file, original, rand)) {
      const s = performance.now();
      try {
        const f = parsePth(m.bytes, file);
        for (const t of f.tensors.values()) t.dispose();
        tally.ok++;
      } catch (e) {
        if (!(e instanceof DetkdError))
          assert.fail(`seed ${seed}, ${file}, ${m.what}: ${(e as Error)?.name}: ${(e as Error)?.message}`);
        assert.ok(e.message.startsWith(`${file}: `), `error does not name the file: ${e.message}`);
        messages.add(e.message.replace(/\d+/g, 'N').slice(0, 80));
        tally.refused++;
      }
      const took = performance.now() - s;
      assert.ok(took < ONE_MS, `seed ${seed}, ${file}, ${m.what}: took ${took.toFixed(0)} ms`);
    }
  }
  const ms = performance.now() - t0;
  assert.equal(tally.ok + tally.refused, FILES.length * PER_FILE);
  // the mutations reach many different checks, not one early refusal
  assert.ok(messages.size >= 15, `only ${messages.size} distinct errors: ${[...messages].join(' | ')}`);
  assert.ok(tally.refused > FILES.length * PER_FILE * 0.5, JSON.stringify(tally));
  assert.ok(ms < BUDGET_MS, `fuzzing took ${ms.toFixed(0)} ms`);
});
