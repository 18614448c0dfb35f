// Oracle: gflLoss, atssLoss, retinaLoss and fcosLoss against mmdetection v2.28's per-level
// loss / loss_single re-stated in PyTorch 1.13 (scripts/fixtures/head_loss_oracle.py), values and
// gradients w.r.t. every level's head outputs, on detkd's own assignments (exported by
// export-inputs.ts). detkd reduces over all levels at once while mmdet sums per-level results, so
// values agree to rounding, not bit for bit: rtol 1e-5 on each term and on each gradient tensor
// (against its largest element).
//
// Batch "ac": both images have ground truth. Batch "ab": image b has none. There mmdet's
// num_total_samples is sum_i max(#pos_i, 1) (AnchorHead/ATSSHead/GFLHead.get_targets), and so is
// detkd's (perImagePositives); the fixture's `alt` values hold the batch-wide count for contrast.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { native } from '../../src/core/native.ts';
import { type Tensor, tidy, zeros } from '../../src/core/tensor.ts';
import type { GtTargets } from '../../src/detection/assigners/types.ts';
import {
  atssLoss,
  fcosLoss,
  gflLoss,
  type HeadLossInputs,
  retinaLoss,
} from '../../src/detection/heads/losses.ts';
import { atssAnchors, retinaAnchors } from '../../src/detection/priors/anchors.ts';
import { fcosPoints } from '../../src/detection/priors/points.ts';
import type { Assignment, HeadOutputs, LossDict, Priors } from '../../src/detection/types.ts';
import { loadOracle } from '../support/oracle.ts';
import {
  BATCHES,
  type BatchName,
  FEAT_SIZES,
  NUM_CLASSES,
  ORACLE_FILE,
  observed,
  record,
  relErr,
  STRIDES,
} from './common.ts';

native.setNumThreads(1);

const oracle = loadOracle(ORACLE_FILE);

type HeadName = 'retina' | 'atss' | 'gfl' | 'fcos';
type Kind = 'cls' | 'reg' | 'ctr';

const HEADS: Record<HeadName, { kinds: Kind[]; terms: string[] }> = {
  retina: { kinds: ['cls', 'reg'], terms: ['loss_cls', 'loss_bbox'] },
  atss: { kinds: ['cls', 'reg', 'ctr'], terms: ['loss_cls', 'loss_bbox', 'loss_centerness'] },
  gfl: { kinds: ['cls', 'reg'], terms: ['loss_cls', 'loss_bbox', 'loss_dfl'] },
  fcos: { kinds: ['cls', 'reg', 'ctr'], terms: ['loss_cls', 'loss_bbox', 'loss_centerness'] },
};

const RTOL = 1e-5;

function priorsOf(head: HeadName): Priors {
  if (head === 'retina') return retinaAnchors(STRIDES).gridPriors(FEAT_SIZES);
  if (head === 'fcos') return fcosPoints(STRIDES).gridPriors(FEAT_SIZES);
  return atssAnchors(STRIDES).gridPriors(FEAT_SIZES);
}

function gtOfFixture(name: string): GtTargets {
  return {
    boxes: oracle.get(`gt/${name}/boxes`),
    labels: oracle.get(`gt/${name}/labels`),
    ignore: oracle.has(`gt/${name}/ignore`) ? oracle.get(`gt/${name}/ignore`) : null,
  };
}

function assignmentOf(head: HeadName, name: string): Assignment {
  const key = head === 'gfl' ? 'atss' : head;
  const gtIndex = oracle.get(`assign/${key}/${name}/gt_index`);
  return {
    gtIndex,
    labels: oracle.get(`assign/${key}/${name}/labels`),
    overlaps: zeros([gtIndex.size(0)]),
    numGts: oracle.get(`gt/${name}/boxes`).size(0),
  };
}

/** Fresh leaf copies of the fixture's head outputs, per kind and level. */
function leaves(head: HeadName, batch: BatchName): Record<Kind, Tensor[]> {
  const out: Record<Kind, Tensor[]> = { cls: [], reg: [], ctr: [] };
  for (const kind of HEADS[head].kinds) {
    out[kind] = STRIDES.map((_, l) =>
      oracle.get(`${head}/${batch}/in/${kind}/${l}`).clone().requiresGrad_(true),
    );
  }
  return out;
}

function runLoss(head: HeadName, batch: BatchName, lv: Record<Kind, Tensor[]>): LossDict {
  const imgs = BATCHES[batch];
  const outputs: HeadOutputs = { clsScores: lv.cls, bboxPreds: lv.reg };
  if (lv.ctr.length > 0) outputs.centerness = lv.ctr;
  const inp: HeadLossInputs = {
    outputs,
    priors: priorsOf(head),
    gts: imgs.map(gtOfFixture),
    assignments: imgs.map((n) => assignmentOf(head, n)),
  };
  const cfg = { numClasses: NUM_CLASSES };
  switch (head) {
    case 'retina':
      return retinaLoss(inp, cfg);
    case 'atss':
      return atssLoss(inp, cfg);
    case 'gfl':
      return gflLoss(inp, { ...cfg, regMax: 16 });
    case 'fcos': {
      const extra = {
        bboxTargets: imgs.map((n) => oracle.get(`assign/fcos/${n}/bbox_targets`)),
        centerness: imgs.map((n) => oracle.get(`assign/fcos/${n}/centerness`)),
      };
      return fcosLoss(inp, extra, { ...cfg, normOnBbox: true });
    }
  }
}

/** Compares one term's value and its gradients w.r.t. every head output with the oracle. */
function checkTerm(head: HeadName, batch: BatchName, term: string): void {
  tidy(() => {
    const pre = `${head}/${batch}`;
    const lv = leaves(head, batch);
    const losses = runLoss(head, batch, lv);
    const got = losses[term];
    assert.ok(got !== undefined, `${pre}: no ${term}`);
    const want = oracle.get(`${pre}/loss/${term}`);
    const e = relErr(got.flatten(), want.flatten());
    record(`${head} ${term} value`, e);
    const alt = relErr(got.flatten(), oracle.get(`${pre}/alt/${term}`).flatten());
    assert.ok(
      e <= RTOL,
      `${pre} ${term}: ${got.item()} vs mmdet ${want.item()} (rel ${e.toExponential(2)}; ` +
        `vs the batch-wide max(sum #pos, 1) divisor: rel ${alt.toExponential(2)})`,
    );
    got.backward();
    for (const kind of HEADS[head].kinds) {
      lv[kind].forEach((leaf, l) => {
        const name = `${pre}/grad/${term}/${kind}/${l}`;
        const g = leaf.grad;
        if (oracle.has(name)) {
          assert.ok(g !== null, `${name}: no gradient`);
          const ge = relErr(g, oracle.get(name));
          record(`${head} ${term} grad`, ge);
          assert.ok(ge <= RTOL, `${name}: relative error ${ge.toExponential(2)}`);
        } else if (g !== null) {
          // mmdet's term does not depend on this output: detkd's gradient must be exactly 0
          assert.equal(g.abs().max().item(), 0, `${name}: nonzero gradient where mmdet has none`);
        }
      });
    }
  });
}

for (const head of Object.keys(HEADS) as HeadName[]) {
  for (const batch of Object.keys(BATCHES) as BatchName[]) {
    for (const term of HEADS[head].terms) {
      test(`${head} [${BATCHES[batch].join(',')}] ${term}: value and gradients match mmdet`, () =>
        checkTerm(head, batch, term));
    }
  }
}

after(() => {
  const rows = [...observed.entries()].map(([k, v]) => `  ${k.padEnd(34)} ${v.toExponential(2)}`);
  console.log(`max relative error observed (value; gradient vs its max |element|):\n${rows.join('\n')}`);
});
