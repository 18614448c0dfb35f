// detkd eval --recipe, detkd predict and the checkpoint loader they share, on a 3-image dataset
// and an untrained (but detecting) tiny GFL detector. See fixture.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { loadDetectorCheckpoint } from '../../src/app/checkpoint-load.ts';
import { evalCheckpoint } from '../../src/cli/commands/eval-results.ts';
import { predict } from '../../src/cli/commands/predict.ts';
import { DetkdError } from '../../src/core/errors.ts';
import { saveStateDict } from '../../src/core/serialize.ts';
import { dispose } from '../../src/core/tensor.ts';
import { buildDetector } from '../../src/detection/models/build.ts';
import { type JsonValue, MODEL_FORMAT, writeModel } from '../../src/train/checkpoint.ts';
import { type CliWorld, freshDetector, MODEL, makeWorld } from './fixture.ts';

const STAT_KEYS = ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100', 'ARs', 'ARm', 'ARl'];

let w: CliWorld;

before(async () => {
  w = await makeWorld();
});

after(() => {
  rmSync(w.dir, { recursive: true, force: true });
});

function collect(): { write: (t: string) => void; text: () => string } {
  let s = '';
  return {
    write: (t) => {
      s += t;
    },
    text: () => s,
  };
}

const quiet = (): void => {};

async function evalErr(checkpoint: string, recipe = w.recipe): Promise<string> {
  const out = collect();
  try {
    await evalCheckpoint({ recipe, checkpoint, json: true }, out.write, quiet);
  } catch (e) {
    assert.ok(e instanceof DetkdError, `expected a DetkdError, got ${String(e)}`);
    return e.message;
  }
  assert.fail('expected an error');
}

describe('detkd eval --recipe', () => {
  test('--json: the 12 stats, perCategory by dataset id, imagesPerSecond; --save-results', async () => {
    const out = collect();
    const saved = join(w.dir, 'dt.json');
    const e = await evalCheckpoint(
      { recipe: w.recipe, checkpoint: w.modelFile, json: true, saveResults: saved },
      out.write,
      quiet,
    );
    const lines = out.text().trim().split('\n');
    assert.equal(lines.length, 1, 'one json line on stdout');
    const obj = JSON.parse(lines[0]!) as Record<string, unknown>;
    for (const k of STAT_KEYS) assert.equal(typeof obj[k], 'number', k);
    assert.deepEqual(Object.keys(obj.perCategory as object).sort(), ['3', '7']);
    assert.ok(typeof obj.imagesPerSecond === 'number' && obj.imagesPerSecond > 0);
    assert.equal(e.images, 3);
    const dt = JSON.parse(readFileSync(saved, 'utf8')) as {
      image_id: number;
      category_id: number;
      bbox: number[];
      score: number;
    }[];
    assert.ok(dt.length > 0, 'the raised class bias makes detections');
    assert.deepEqual(dt, e.results);
    for (const d of dt) {
      assert.ok([1, 2, 3].includes(d.image_id));
      assert.ok([3, 7].includes(d.category_id));
      assert.equal(d.bbox.length, 4);
    }
  });

  test('a resumable checkpoint gives the same results as the model file; text report', async () => {
    const a = collect();
    const b = collect();
    const ea = await evalCheckpoint({ recipe: w.recipe, checkpoint: w.modelFile }, a.write, quiet);
    const eb = await evalCheckpoint({ recipe: w.recipe, checkpoint: w.checkpointFile }, b.write, quiet);
    assert.deepEqual(eb.results, ea.results);
    assert.deepEqual(eb.coco.stats, ea.coco.stats);
    assert.match(
      b.text(),
      /^ Average Precision {2}\(AP\) @\[ IoU=0\.50:0\.95 \| area= {3}all \| maxDets=100 \] = /,
    );
    assert.match(b.text(), /red_box +3 /);
    assert.match(b.text(), /3 images in [\d.]+ s: [\d.]+ images\/s/);
  });

  test('--data with other category ids is refused', async () => {
    const bad = join(w.dir, 'val-other.json');
    const j = JSON.parse(readFileSync(w.valJson, 'utf8')) as {
      categories: { id: number }[];
      annotations: { category_id: number }[];
    };
    j.categories[1]!.id = 8;
    for (const a of j.annotations) if (a.category_id === 7) a.category_id = 8;
    writeFileSync(bad, JSON.stringify(j));
    await assert.rejects(
      evalCheckpoint({ recipe: w.recipe, checkpoint: w.modelFile, data: bad }, quiet, quiet),
      (e: Error) => e instanceof DetkdError && /category ids \[3,8\].*\[3,7\]/.test(e.message),
    );
  });
});

describe('checkpoint errors', () => {
  test('a missing key names the key and its shape', async () => {
    const det = freshDetector();
    const sd = det.stateDict();
    const dropped = 'bbox_head.gfl_reg.weight';
    sd.get(dropped)?.dispose();
    sd.delete(dropped);
    const f = join(w.dir, 'missing.safetensors');
    saveStateDict(f, sd, { format: MODEL_FORMAT });
    dispose([...sd.values()]);
    det.dispose();
    const msg = await evalErr(f);
    assert.match(msg, new RegExp(f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')));
    assert.match(msg, /1 missing key\(s\): 'bbox_head\.gfl_reg\.weight' \[68, 16, 3, 3\]/);
    assert.ok(!msg.includes('\n'), 'one paragraph');
  });

  test("another recipe's checkpoint: both shapes and the recipe it came from", async () => {
    const det = freshDetector(3);
    const f = join(w.dir, 'other.safetensors');
    writeModel(
      f,
      det,
      {},
      { name: 'other', model: JSON.parse(JSON.stringify({ ...MODEL, numClasses: 3 })) as JsonValue },
    );
    det.dispose();
    const msg = await evalErr(f);
    assert.match(msg, /'bbox_head\.gfl_cls\.weight' checkpoint \[3, 16, 3, 3\] vs model \[2, 16, 3, 3\]/);
    assert.match(msg, /'bbox_head\.gfl_cls\.bias' checkpoint \[3\] vs model \[2\]/);
    assert.match(msg, /saved by recipe 'other' \(gfl, 3 classes, ResNet-18 x0\.125, 16 channels\)/);
    assert.ok(!msg.includes('\n'));
  });

  test('the right weights under the other recipe: the error names the recipe that fits', async () => {
    const msg = await evalErr(w.modelFile, w.otherRecipe);
    assert.match(msg, /does not fit recipe 'other'/);
    assert.match(msg, /saved by recipe 'clitest'/);
  });

  test('unexpected keys are listed; an unknown format is refused', () => {
    const det = freshDetector();
    const sd = det.stateDict();
    const extra = det.stateDict();
    for (const [k, t] of extra) sd.set(`teacher.${k}`, t);
    const f = join(w.dir, 'extra.safetensors');
    saveStateDict(f, sd, {});
    dispose([...sd.values()]);
    const g = join(w.dir, 'fmt.safetensors');
    saveStateDict(g, new Map(), { format: 'something/9' });
    const target = buildDetector(MODEL);
    try {
      assert.throws(
        () => loadDetectorCheckpoint(target, f, { name: 'clitest', model: MODEL }),
        (e: Error) =>
          e instanceof DetkdError &&
          /(\d+) unexpected key\(s\): 'teacher\.backbone\.bn1\.bias' \[8\], .* and \d+ more\./.test(
            e.message,
          ) &&
          /plain safetensors/.test(e.message),
      );
      assert.throws(
        () => loadDetectorCheckpoint(target, g, { name: 'clitest', model: MODEL }),
        /format 'something\/9' is not one detkd reads/,
      );
    } finally {
      target.dispose();
      det.dispose();
    }
  });

  test('corrupt, truncated and missing files', async () => {
    const junk = join(w.dir, 'junk.safetensors');
    writeFileSync(junk, 'this is not a safetensors file');
    assert.match(await evalErr(junk), /junk\.safetensors: cannot read it as a safetensors file/);
    const cut = join(w.dir, 'cut.safetensors');
    const bytes = readFileSync(w.modelFile);
    writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
    assert.match(await evalErr(cut), /cut\.safetensors: cannot read it as a safetensors file/);
    assert.match(await evalErr(join(w.dir, 'nope.safetensors')), /nope\.safetensors: file not found/);
  });

  test('the CLI prints the message, not a stack trace', () => {
    const junk = join(w.dir, 'junk2.safetensors');
    writeFileSync(junk, 'x');
    const r = spawnSync(
      process.execPath,
      ['bin/detkd.js', 'eval', '--recipe', w.recipe, '--checkpoint', junk],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^detkd: checkpoint .*junk2\.safetensors: cannot read it/);
    assert.ok(!/\n\s+at /.test(r.stderr), r.stderr);
  });
});

describe('detkd predict', () => {
  test('results.json with file names and dataset ids; one PNG per image at its size (or upscaled when small)', async () => {
    const out = join(w.dir, 'pred');
    const s = await predict(
      { recipe: w.recipe, checkpoint: w.modelFile, images: w.images, out, scoreThr: 0.3 },
      quiet,
      quiet,
    );
    assert.equal(s.failed.length, 0);
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      image_id: number;
      file_name: string;
      category_id: number;
      bbox: number[];
      score: number;
    }[];
    assert.deepEqual(res, s.results);
    assert.ok(res.length > 0);
    for (const r of res) {
      assert.equal(r.file_name, w.images[r.image_id]);
      assert.ok([3, 7].includes(r.category_id));
      assert.ok(r.score >= 0.3);
    }
    for (const [i, f] of w.images.entries()) {
      const png = join(out, `img${i}.png`);
      assert.equal(s.drawn[i], png);
      const m = await sharp(png).metadata();
      // Images under 512 px are drawn upscaled by an integer factor so labels stay legible.
      const [h, wd] = w.sizes[i]!;
      const k = Math.min(h, wd) >= 512 ? 1 : Math.ceil(512 / Math.min(h, wd));
      assert.deepEqual([m.height, m.width, m.format], [h * k, wd * k, 'png'], f);
    }
    // Evaluating through predict's transform equals eval's: same boxes for image 0.
    const e = await evalCheckpoint({ recipe: w.recipe, checkpoint: w.modelFile }, quiet, quiet);
    const fromEval = e.results.filter((r) => r.image_id === 1 && r.score >= 0.3);
    const fromPredict = res.filter((r) => r.image_id === 0);
    assert.equal(fromPredict.length, fromEval.length);
    fromPredict.forEach((r, k) => {
      r.bbox.forEach((v, j) => {
        assert.ok(Math.abs(v - fromEval[k]!.bbox[j]!) < 1e-3);
      });
    });
  });

  test('the same file name twice gets -<index> suffixes', async () => {
    const out = join(w.dir, 'pred-twice');
    const s = await predict(
      { recipe: w.recipe, checkpoint: w.modelFile, images: [w.images[1]!, w.images[1]!], out },
      quiet,
      quiet,
    );
    assert.deepEqual(s.drawn, [join(out, 'img1-0.png'), join(out, 'img1-1.png')]);
    assert.ok(s.drawn.every((f) => f !== null && existsSync(f)));
  });

  test('an unreadable image is reported by name, the others still come out, exit status 1', () => {
    const bad = join(w.dir, 'broken.png');
    writeFileSync(bad, 'not a png');
    const out = join(w.dir, 'pred-cli');
    const r = spawnSync(
      process.execPath,
      [
        'bin/detkd.js',
        'predict',
        '--recipe',
        w.recipe,
        '--checkpoint',
        w.checkpointFile,
        '--out',
        out,
        w.images[0]!,
        bad,
        w.images[2]!,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /broken\.png: corrupt or unsupported image/);
    assert.match(r.stderr, /1 of 3 image\(s\) could not be read: .*broken\.png/);
    assert.ok(existsSync(join(out, 'img0.png')) && existsSync(join(out, 'img2.png')));
    assert.ok(!existsSync(join(out, 'broken.png')));
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { image_id: number }[];
    assert.ok(res.every((x) => x.image_id === 0 || x.image_id === 2));
  });
});
