#!/usr/bin/env python3
"""Slow, literal reference for COCO bbox evaluation (pycocotools COCOeval, iouType='bbox', default params).

pycocotools cannot be installed here, so this re-implements its algorithm step by step with plain
Python loops and numpy, following PythonAPI/pycocotools/{coco,cocoeval}.py and common/maskApi.c
(bbIou). It is the oracle for detkd's edge-case fixtures: it reproduces
test/fixtures/coco-eval/expected.json (computed by pycocotools itself) exactly.

Deliberate extensions over pycocotools, mirrored by src/eval/coco-eval.ts:
  - an empty results list is evaluated as "no detections" (pycocotools' loadRes crashes on it);
  - a gt annotation without `area` uses w*h, one without `iscrowd` is not a crowd.

Usage:
  python3 scripts/coco-eval-reference.py GT.json DT.json          # prints one JSON object
  python3 scripts/coco-eval-reference.py --check DIR/expected.json DIR/cases
"""
import json
import sys
from collections import defaultdict

import numpy as np

# numpy.linspace semantics, as in pycocotools Params.setDetParams.
IOU_THRS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
REC_THRS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
MAX_DETS = [1, 10, 100]
AREA_RNG = [[0**2, 1e5**2], [0**2, 32**2], [32**2, 96**2], [96**2, 1e5**2]]
AREA_LBL = ['all', 'small', 'medium', 'large']


def _pairwise_sum(a):
    """numpy's pairwise_sum for float64 (umath loops): 8-way unrolled blocks of <= 128, halves above."""
    n = len(a)
    if n < 8:
        res = 0.0
        for v in a:
            res += v
        return res
    if n <= 128:
        r = list(a[:8])
        i = 8
        while i < n - (n % 8):
            for j in range(8):
                r[j] += a[i + j]
            i += 8
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < n:
            res += a[i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise_sum(a[:n2]) + _pairwise_sum(a[n2:])


def np_mean(v):
    """np.mean of a 1-D float64 array as numpy 1.x computes it (the numpy behind expected.json):
    the reduction runs in 8192-element buffer chunks, each summed pairwise. numpy 2.x sums the
    whole array pairwise in one pass; the two differ by ~1e-17 beyond 8192 values."""
    v = [float(x) for x in v]
    total = 0.0
    for s in range(0, len(v), 8192):
        total += _pairwise_sum(v[s:s + 8192])
    return total / len(v)


def bb_iou(dts, gts, iscrowd):
    """maskApi.c bbIou: [D, G] IoU of xywh boxes; crowd gt uses the detection's area as union."""
    o = np.zeros((len(dts), len(gts)))
    for g, G in enumerate(gts):
        ga = G[2] * G[3]
        crowd = iscrowd[g]
        for d, D in enumerate(dts):
            da = D[2] * D[3]
            w = min(D[2] + D[0], G[2] + G[0]) - max(D[0], G[0])
            if w <= 0:
                continue
            h = min(D[3] + D[1], G[3] + G[1]) - max(D[1], G[1])
            if h <= 0:
                continue
            i = w * h
            u = da if crowd else da + ga - i
            o[d, g] = i / u
    return o


def evaluate(gt_data, dt_list):
    # --- COCO(gt): index ------------------------------------------------------------------------
    imgs = {img['id']: img for img in gt_data['images']}
    cats = {c['id']: c for c in gt_data['categories']}
    gt_img_to_anns = defaultdict(list)
    for ann in gt_data['annotations']:
        gt_img_to_anns[ann['image_id']].append(ann)

    # --- loadRes: bbox results get area = w*h, id = index+1, iscrowd = 0 -------------------------
    res_anns = []
    if len(dt_list) > 0:
        img_ids_in_res = set(a['image_id'] for a in dt_list)
        assert img_ids_in_res == (img_ids_in_res & set(imgs.keys())), 'Results do not correspond to current coco set'
    for i, a in enumerate(dt_list):
        a = dict(a)
        bb = a['bbox']
        a['area'] = bb[2] * bb[3]
        a['id'] = i + 1
        a['iscrowd'] = 0
        res_anns.append(a)
    dt_img_to_anns = defaultdict(list)
    for ann in res_anns:
        dt_img_to_anns[ann['image_id']].append(ann)

    img_ids = sorted(np.unique(list(imgs.keys())).tolist())
    cat_ids = sorted(np.unique(list(cats.keys())).tolist())
    cat_set = set(cat_ids)

    # --- _prepare ---------------------------------------------------------------------------------
    def get_anns(img_to_anns):
        out = []
        for img_id in img_ids:
            if img_id in img_to_anns:
                out.extend(img_to_anns[img_id])
        return [a for a in out if a['category_id'] in cat_set]

    gts = [dict(a) for a in get_anns(gt_img_to_anns)]
    dts = get_anns(dt_img_to_anns)
    for g in gts:
        if 'iscrowd' not in g:
            g['iscrowd'] = 0  # extension (pycocotools raises KeyError later)
        if 'area' not in g:
            g['area'] = g['bbox'][2] * g['bbox'][3]  # extension
        g['ignore'] = 'iscrowd' in g and g['iscrowd']
    _gts = defaultdict(list)
    _dts = defaultdict(list)
    for g in gts:
        _gts[g['image_id'], g['category_id']].append(g)
    for d in dts:
        _dts[d['image_id'], d['category_id']].append(d)

    # --- evaluate: computeIoU ---------------------------------------------------------------------
    max_det = MAX_DETS[-1]
    ious = {}
    for img_id in img_ids:
        for cat_id in cat_ids:
            gt = _gts[img_id, cat_id]
            dt = _dts[img_id, cat_id]
            if len(gt) == 0 and len(dt) == 0:
                ious[img_id, cat_id] = []
                continue
            inds = np.argsort([-d['score'] for d in dt], kind='mergesort')
            dt = [dt[i] for i in inds][:max_det]
            if len(dt) == 0 or len(gt) == 0:
                ious[img_id, cat_id] = []  # maskUtils.iou returns [] for an empty side
                continue
            iscrowd = [int(o['iscrowd']) for o in gt]
            ious[img_id, cat_id] = bb_iou([d['bbox'] for d in dt], [g['bbox'] for g in gt], iscrowd)

    # --- evaluate: evaluateImg --------------------------------------------------------------------
    def evaluate_img(img_id, cat_id, a_rng):
        gt = _gts[img_id, cat_id]
        dt = _dts[img_id, cat_id]
        if len(gt) == 0 and len(dt) == 0:
            return None
        for g in gt:
            g['_ignore'] = 1 if (g['ignore'] or g['area'] < a_rng[0] or g['area'] > a_rng[1]) else 0
        gtind = np.argsort([g['_ignore'] for g in gt], kind='mergesort')
        gt = [gt[i] for i in gtind]
        dtind = np.argsort([-d['score'] for d in dt], kind='mergesort')
        dt = [dt[i] for i in dtind[0:max_det]]
        iscrowd = [int(o['iscrowd']) for o in gt]
        iou_all = ious[img_id, cat_id]
        iou_m = iou_all[:, gtind] if len(iou_all) > 0 else iou_all
        T, G, D = len(IOU_THRS), len(gt), len(dt)
        gtm = np.zeros((T, G))
        dtm = np.zeros((T, D))
        gt_ig = np.array([g['_ignore'] for g in gt])
        dt_ig = np.zeros((T, D))
        if not len(iou_m) == 0:
            for tind, t in enumerate(IOU_THRS):
                for dind, d in enumerate(dt):
                    best = min([t, 1 - 1e-10])
                    m = -1
                    for gind, g in enumerate(gt):
                        if gtm[tind, gind] > 0 and not iscrowd[gind]:
                            continue
                        if m > -1 and gt_ig[m] == 0 and gt_ig[gind] == 1:
                            break
                        if iou_m[dind, gind] < best:
                            continue
                        best = iou_m[dind, gind]
                        m = gind
                    if m == -1:
                        continue
                    dt_ig[tind, dind] = gt_ig[m]
                    dtm[tind, dind] = gt[m]['id']
                    gtm[tind, m] = d['id']
        a = np.array([d['area'] < a_rng[0] or d['area'] > a_rng[1] for d in dt]).reshape((1, len(dt)))
        dt_ig = np.logical_or(dt_ig, np.logical_and(dtm == 0, np.repeat(a, T, 0)))
        return {
            'dtMatches': dtm,
            'dtScores': [d['score'] for d in dt],
            'gtIgnore': gt_ig,
            'dtIgnore': dt_ig,
        }

    eval_imgs = [evaluate_img(i, c, a) for c in cat_ids for a in AREA_RNG for i in img_ids]

    # --- accumulate -------------------------------------------------------------------------------
    T, R, K, A, M = len(IOU_THRS), len(REC_THRS), len(cat_ids), len(AREA_RNG), len(MAX_DETS)
    precision = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))
    I0, A0 = len(img_ids), len(AREA_RNG)
    npig_all = np.zeros((K,), dtype=np.int64)
    for k in range(K):
        for a in range(A):
            for m, md in enumerate(MAX_DETS):
                E = [eval_imgs[k * A0 * I0 + a * I0 + i] for i in range(I0)]
                E = [e for e in E if e is not None]
                if len(E) == 0:
                    continue
                dt_scores = np.concatenate([np.array(e['dtScores'][0:md], dtype=np.float64) for e in E])
                inds = np.argsort(-dt_scores, kind='mergesort')
                dtm = np.concatenate([e['dtMatches'][:, 0:md] for e in E], axis=1)[:, inds]
                dt_ig = np.concatenate([e['dtIgnore'][:, 0:md] for e in E], axis=1)[:, inds]
                gt_ig = np.concatenate([e['gtIgnore'] for e in E])
                npig = np.count_nonzero(gt_ig == 0)
                if a == 0 and m == M - 1:
                    npig_all[k] = npig
                if npig == 0:
                    continue
                tps = np.logical_and(dtm, np.logical_not(dt_ig))
                fps = np.logical_and(np.logical_not(dtm), np.logical_not(dt_ig))
                tp_sum = np.cumsum(tps, axis=1).astype(dtype=np.float64)
                fp_sum = np.cumsum(fps, axis=1).astype(dtype=np.float64)
                for t, (tp, fp) in enumerate(zip(tp_sum, fp_sum)):
                    tp = np.array(tp)
                    fp = np.array(fp)
                    nd = len(tp)
                    rc = tp / npig
                    pr = tp / (fp + tp + np.spacing(1))
                    q = np.zeros((R,))
                    recall[t, k, a, m] = rc[-1] if nd else 0
                    pr = pr.tolist()
                    q = q.tolist()
                    for i in range(nd - 1, 0, -1):
                        if pr[i] > pr[i - 1]:
                            pr[i - 1] = pr[i]
                    rinds = np.searchsorted(rc, REC_THRS, side='left')
                    try:
                        for ri, pi in enumerate(rinds):
                            q[ri] = pr[pi]
                    except IndexError:
                        pass
                    precision[t, :, k, a, m] = np.array(q)

    # --- summarize --------------------------------------------------------------------------------
    def summarize(ap, iou_thr=None, area='all', max_dets=100):
        aind = [i for i, lbl in enumerate(AREA_LBL) if lbl == area]
        mind = [i for i, md in enumerate(MAX_DETS) if md == max_dets]
        if ap == 1:
            s = precision
            if iou_thr is not None:
                s = s[np.where(iou_thr == IOU_THRS)[0]]
            s = s[:, :, :, aind, mind]
        else:
            s = recall
            if iou_thr is not None:
                s = s[np.where(iou_thr == IOU_THRS)[0]]
            s = s[:, :, aind, mind]
        return -1.0 if len(s[s > -1]) == 0 else np_mean(s[s > -1])

    stats = [
        summarize(1),
        summarize(1, iou_thr=0.5),
        summarize(1, iou_thr=0.75),
        summarize(1, area='small'),
        summarize(1, area='medium'),
        summarize(1, area='large'),
        summarize(0, max_dets=1),
        summarize(0, max_dets=10),
        summarize(0, max_dets=100),
        summarize(0, area='small'),
        summarize(0, area='medium'),
        summarize(0, area='large'),
    ]

    def cat_mean(s):
        s = s[s > -1]
        return -1.0 if s.size == 0 else np_mean(s)

    per_cat = {}
    per_cat_detail = {}
    for k, c in enumerate(cat_ids):
        per_cat[str(c)] = cat_mean(precision[:, :, k, 0, -1])
        per_cat_detail[str(c)] = {
            'AP': per_cat[str(c)],
            'AP50': cat_mean(precision[0, :, k, 0, -1]),
            'AP75': cat_mean(precision[5, :, k, 0, -1]),
            'APs': cat_mean(precision[:, :, k, 1, -1]),
            'APm': cat_mean(precision[:, :, k, 2, -1]),
            'APl': cat_mean(precision[:, :, k, 3, -1]),
            'AR100': cat_mean(recall[:, k, 0, -1]),
            'numGt': int(npig_all[k]),
        }
    return {'stats': stats, 'per_category_ap': per_cat, 'per_category': per_cat_detail}


def load(path):
    with open(path) as f:
        return json.load(f)


def check(expected_path, cases_dir):
    expected = load(expected_path)
    ok = True
    for name, exp in expected['cases'].items():
        got = evaluate(load(f'{cases_dir}/{name}/gt.json'), load(f'{cases_dir}/{name}/dt.json'))
        same = got['stats'] == exp['stats'] and got['per_category_ap'] == exp['per_category_ap']
        worst = max(abs(a - b) for a, b in zip(got['stats'], exp['stats']))
        print(f'{name}: {"bit-exact" if same else "DIFFERS"} (max |diff| on stats {worst:.3g})')
        ok = ok and same
    return ok


if __name__ == '__main__':
    if len(sys.argv) == 4 and sys.argv[1] == '--check':
        sys.exit(0 if check(sys.argv[2], sys.argv[3]) else 1)
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    print(json.dumps(evaluate(load(sys.argv[1]), load(sys.argv[2]))))
