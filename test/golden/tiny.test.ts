// CI's golden end-to-end run: `detkd train recipes/tiny.ts` (GFL, ResNet-18 x0.25 + FPN 32 on
// the synthetic tiny set, 300 iterations, ~40 s on 2 cores) through the real CLI, then checks
// that the loss and the COCO mAP land in the recorded band. The band is narrow enough to fail
// when training is broken (an untrained detector scores AP ~0, a broken loss stays above 2),
// and wide enough for thread-count and platform rounding differences.
//
// Recorded (2 cores, seed 0): final smoothed loss 0.82-0.96, AP 0.23-0.26, AP50 0.42-0.49.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

test('golden run: the tiny recipe trains to a recorded loss and mAP band', { timeout: 600_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), 'detkd-golden-'));
  try {
    const r = spawnSync(
      process.execPath,
      [join(root, 'bin', 'detkd.js'), 'train', join(root, 'recipes', 'tiny.ts'), '--out', out],
      {
        cwd: root,
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, `train failed:\n${r.stdout}\n${r.stderr}`);
    const rows = readFileSync(join(out, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            type: string;
            iter: number;
            losses?: Record<string, number>;
            metrics?: Record<string, number>;
          },
      );
    const train = rows.filter((x) => x.type === 'train');
    const first = train[0]!.losses!.loss!;
    const last = train[train.length - 1]!.losses!.loss!;
    const evals = rows.filter((x) => x.type === 'eval');
    assert.equal(evals.length, 1);
    const m = evals[0]!.metrics!;
    assert.ok(first > 2.0, `initial loss ${first} (expected > 2: an untrained detector)`);
    assert.ok(last > 0.6 && last < 1.2, `final loss ${last} outside [0.6, 1.2]`);
    assert.ok(m.AP! > 0.15 && m.AP! < 0.4, `AP ${m.AP} outside (0.15, 0.40)`);
    assert.ok(m.AP50! > 0.3 && m.AP50! < 0.65, `AP50 ${m.AP50} outside (0.30, 0.65)`);
    for (const f of [
      'last.safetensors',
      'best.safetensors',
      'model_final.safetensors',
      'model_best.safetensors',
    ]) {
      assert.ok(existsSync(join(out, f)), `${f} written`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
