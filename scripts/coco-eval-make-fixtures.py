#!/usr/bin/env python3
"""Writes detkd's COCO-eval edge cases and their expected values (from the literal reference).

  python3 scripts/coco-eval-make-fixtures.py

Writes test/fixtures/coco-eval/edge/<case>/{gt.json,dt.json} and test/fixtures/coco-eval/edge-expected.json
(12 stats, per-category AP and per-category AP50/AP75/APs/APm/APl/AR100/numGt), after checking that
the reference reproduces the pycocotools values of test/fixtures/coco-eval/expected.json exactly.
Deterministic: re-running gives the same files.
"""
import importlib.util
import json
import os
import random
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
FIX = os.path.join(ROOT, 'test', 'fixtures', 'coco-eval')
_spec = importlib.util.spec_from_file_location('ref', os.path.join(os.path.dirname(__file__), 'coco-eval-reference.py'))
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)


def cats(*ids):
    return [{'id': i, 'name': f'cat{i}', 'supercategory': 'thing'} for i in ids]


def imgs(*ids):
    return [{'id': i, 'width': 640, 'height': 480, 'file_name': f'{i:012d}.jpg'} for i in ids]


class Gt:
    def __init__(self):
        self.anns = []

    def add(self, img, cat, bbox, area='wh', crowd=0, ann_id=None, **extra):
        a = {'id': len(self.anns) + 1 if ann_id is None else ann_id, 'image_id': img, 'category_id': cat,
             'bbox': bbox}
        if area == 'wh':
            a['area'] = bbox[2] * bbox[3]
        elif area is not None:
            a['area'] = area
        if crowd is not None:
            a['iscrowd'] = crowd
        a.update(extra)
        self.anns.append(a)


def det(img, cat, bbox, score):
    return {'image_id': img, 'category_id': cat, 'bbox': bbox, 'score': score}


def case_crowd():
    g = Gt()
    # image 1: one real object and a large crowd region next to it
    g.add(1, 1, [10, 10, 50, 50])
    g.add(1, 1, [200, 100, 300, 300], crowd=1)
    g.add(1, 1, [600, 400, 10, 10], crowd=1, area=100)  # small crowd, area in 'small'
    # image 2: category 2 has only a crowd region (no real gt -> category AP -1)
    g.add(2, 2, [0, 0, 400, 400], crowd=1)
    g.add(2, 1, [300, 300, 40, 40])
    d = [
        det(1, 1, [12, 11, 50, 50], 0.9),  # TP on the real object
        det(1, 1, [210, 110, 50, 50], 0.85),  # inside the crowd: IoU 1 vs crowd -> ignored
        det(1, 1, [220, 120, 60, 60], 0.8),  # also inside: the crowd absorbs many
        det(1, 1, [150, 100, 100, 100], 0.75),  # half inside the crowd: IoU 0.5 -> ignored only at .50
        det(1, 1, [11, 9, 50, 50], 0.7),  # duplicate of the real object -> FP
        det(1, 1, [598, 398, 12, 12], 0.65),  # on the small crowd: IoU 100/144 < .7
        det(2, 2, [10, 10, 30, 30], 0.6),  # inside category 2's crowd
        det(2, 2, [500, 400, 30, 30], 0.55),  # category 2 FP (category has no real gt)
        det(2, 1, [300, 300, 40, 40], 0.5),  # TP
        det(2, 1, [0, 0, 400, 400], 0.45),  # category 1 big FP on image 2
    ]
    return imgs(1, 2), cats(1, 2), g.anns, d


def case_area_boundaries():
    g = Gt()
    # area field exactly on the range ends: 1024 is small and medium, 9216 medium and large
    g.add(1, 1, [0, 0, 32, 32], area=1024)
    g.add(1, 1, [100, 0, 96, 96], area=9216)
    g.add(1, 1, [300, 0, 20, 20], area=1023.9999)
    g.add(1, 1, [400, 0, 40, 40], area=1024.0001)
    # area field disagreeing with w*h: ranges use the field
    g.add(2, 1, [0, 0, 200, 200], area=500)  # big box, 'small' by its area field
    g.add(2, 1, [300, 0, 10, 10], area=20000)  # tiny box, 'large' by its area field
    g.add(2, 1, [400, 300, 50, 60], area=None)  # no area field: w*h = 3000 (detkd extension)
    g.add(2, 1, [500, 100, 30, 30], crowd=None)  # no iscrowd: not a crowd (detkd extension)
    d = [
        det(1, 1, [0, 0, 32, 32], 0.9),
        det(1, 1, [100, 0, 96, 96], 0.8),
        det(1, 1, [301, 0, 20, 20], 0.7),
        det(1, 1, [400, 2, 40, 40], 0.6),
        det(1, 1, [0, 200, 32, 32], 0.55),  # unmatched, w*h = 1024: FP in small and medium
        det(1, 1, [200, 200, 96, 96], 0.5),  # unmatched, w*h = 9216: FP in medium and large
        det(1, 1, [600, 400, 32, 32.5], 0.45),  # unmatched, w*h 1040: medium only
        det(2, 1, [0, 0, 200, 200], 0.85),
        det(2, 1, [300, 0, 10, 10], 0.75),
        det(2, 1, [400, 300, 50, 60], 0.65),
        det(2, 1, [500, 100, 30, 31], 0.35),
    ]
    return imgs(1, 2), cats(1), g.anns, d


def case_max_dets():
    rnd = random.Random(7)
    g = Gt()
    d = []
    # image 1, category 1: 30 objects, 120 detections; the right ones rank after 100 for some
    for j in range(30):
        g.add(1, 1, [20 * j, 10, 15, 15 + j])
    for j in range(120):
        obj = j % 30
        jit = rnd.uniform(-3, 3)
        score = round(0.99 - j * 0.008, 4)
        if j >= 90:  # the accurate copies come last and fall past maxDets=100 from j=100
            jit = 0.0
        d.append(det(1, 1, [20 * obj + jit, 10, 15, 15 + obj], score))
    # image 2: 150 detections across 3 categories (50 each): no cut, the cut is per image *and* category
    for c in (1, 2, 3):
        for j in range(12):
            g.add(2, c, [40 * j, 100 * c, 30, 30])
        for j in range(50):
            obj = j % 12
            d.append(det(2, c, [40 * obj + rnd.uniform(-8, 8), 100 * c + rnd.uniform(-8, 8), 30, 30],
                         round(rnd.uniform(0.05, 0.95), 3)))
    # image 3: 5 objects, 5 perfect detections: AR1 = 1/5, AR10 = 1
    for j in range(5):
        g.add(3, 2, [60 * j, 50, 40, 40])
        d.append(det(3, 2, [60 * j, 50, 40, 40], 0.9 - 0.1 * j))
    return imgs(1, 2, 3), cats(1, 2, 3), g.anns, d


def case_score_ties():
    g = Gt()
    g.add(5, 1, [10, 10, 100, 100])
    g.add(10, 1, [10, 10, 100, 100])
    g.add(20, 1, [50, 50, 80, 80])
    g.add(20, 2, [50, 50, 80, 80])
    d = [
        # across images at score .5: image 10 first in the file, a FP; image 5 a TP.
        # pycocotools orders ties by image id (5 before 10), not by file order.
        det(10, 1, [300, 300, 50, 50], 0.5),
        det(5, 1, [10, 10, 100, 100], 0.5),
        det(10, 1, [12, 10, 100, 100], 0.5),
        # inside one image, equal scores keep file order: the worse box first takes the gt at .5
        det(20, 1, [60, 60, 80, 80], 0.7),  # IoU ~0.62
        det(20, 1, [50, 50, 80, 80], 0.7),  # IoU 1, second in file order
        # category 2: same boxes, the good one first
        det(20, 2, [50, 50, 80, 80], 0.7),
        det(20, 2, [60, 60, 80, 80], 0.7),
    ]
    return imgs(5, 10, 20), cats(1, 2), g.anns, d


def case_empty_results():
    g = Gt()
    g.add(1, 1, [10, 10, 30, 30])
    g.add(1, 2, [100, 100, 200, 150])
    g.add(2, 1, [0, 0, 60, 60], crowd=1)
    return imgs(1, 2), cats(1, 2, 3), g.anns, []


def case_categories():
    g = Gt()
    g.add(1, 1, [10, 10, 50, 50])
    g.add(1, 2, [100, 100, 50, 50])  # category 2: gt, no detections -> AP 0
    g.add(1, 99, [10, 10, 50, 50])  # category 99 is not listed: dropped
    g.add(77, 1, [10, 10, 50, 50])  # image 77 is not listed: dropped
    d = [
        det(1, 1, [10, 10, 50, 50], 0.9),
        det(1, 3, [200, 200, 50, 50], 0.8),  # category 3: detections, no gt -> -1
        det(1, 99, [10, 10, 50, 50], 0.95),  # unknown category: dropped
        det(1, 1, [300, 300, 50, 50], 0.4),
    ]
    # category 4 is listed with neither gt nor detections -> -1
    return imgs(1, 2), cats(1, 2, 3, 4), g.anns, d


def case_degenerate():
    g = Gt()
    g.add(1, 1, [10, 10, 0, 50])  # zero-width gt: never matched, still counted
    g.add(1, 1, [100, 100, 100, 100])
    g.add(1, 1, [300, 300, 100, 100])
    g.add(1, 1, [0, 400, 0, 0], area=0)  # zero-size gt with area 0: small, counted
    d = [
        det(1, 1, [10, 10, 0, 50], 0.9),  # identical zero-width box: IoU 0
        det(1, 1, [100, 100, 100, 50], 0.8),  # IoU exactly 0.5: matched at .50 only
        det(1, 1, [300, 300, 100, 75], 0.7),  # IoU exactly 0.75
        det(1, 1, [100, 100, 100, 0], 0.6),  # zero-height detection, w*h 0
        det(1, 1, [0, 400, 0, 0], 0.5),
    ]
    g.add(2, 1, [0, 0, 100, 100])
    d.append(det(2, 1, [0, 0, 100, 55], 0.65))  # IoU 0.55, against threshold 0.55 (linspace)
    g.add(2, 1, [200, 0, 100, 100])
    d.append(det(2, 1, [200, 0, 100, 85], 0.64))  # IoU 0.85 vs 0.8500000000000001
    g.add(2, 1, [400, 0, 100, 100])
    d.append(det(2, 1, [400, 0, 100, 90], 0.63))  # IoU 0.9 vs 0.8999999999999999
    g.add(2, 1, [0, 200, 100, 100])
    d.append(det(2, 1, [0, 200, 100, 95], 0.62))  # IoU 0.95 vs 0.95 (the last, exact)
    return imgs(1, 2), cats(1), g.anns, d


def case_images_without_gt():
    g = Gt()
    g.add(2, 1, [10, 10, 40, 40])
    d = [
        det(1, 1, [10, 10, 40, 40], 0.95),  # image 1 has no gt at all: FP
        det(2, 1, [10, 10, 40, 40], 0.6),
        det(3, 1, [10, 10, 40, 40], 0.3),  # image 3 too
    ]
    return imgs(1, 2, 3, 4), cats(1), g.anns, d


def case_gt_id_zero():
    # pycocotools stores the matched gt's id in dtMatches and reads 0 as "unmatched": a detection
    # matched to an annotation with id 0 is a false positive (and still uses the gt up).
    g = Gt()
    g.add(1, 1, [10, 10, 50, 50], ann_id=0)
    g.add(1, 1, [100, 100, 50, 50], ann_id=7)
    d = [det(1, 1, [10, 10, 50, 50], 0.9), det(1, 1, [100, 100, 50, 50], 0.8), det(1, 1, [11, 10, 50, 50], 0.7)]
    return imgs(1), cats(1), g.anns, d


def case_match_order():
    g = Gt()
    # IoU tie between two gts: the later one wins, which lets the second detection take the first gt
    g.add(1, 1, [0, 0, 100, 100])  # A
    g.add(1, 1, [20, 0, 100, 100])  # B: same IoU with det 1 as A
    g.add(1, 1, [300, 300, 200, 200])  # large: ignored for 'small'/'medium'
    g.add(1, 1, [290, 290, 20, 20])  # small
    d = [
        det(1, 1, [10, 0, 100, 100], 0.9),  # IoU(A) == IoU(B)
        det(1, 1, [0, 0, 100, 100], 0.8),  # IoU(A) = 1, IoU(B) < .7: TP only if det 1 took B
        # overlaps the small gt a little and the large gt more: in 'small' the large one is ignored
        # and comes last, so this detection takes the small gt where it can
        det(1, 1, [292, 292, 20, 20], 0.7),
    ]
    return imgs(1), cats(1), g.anns, d


def case_random_ties():
    """Many images and categories, integer boxes, scores on a 0.05 grid (ties everywhere), crowds,
    area fields that disagree with w*h, images with more than 100 detections of a category."""
    rnd = random.Random(2024)
    image_ids = sorted(rnd.sample(range(1, 400), 60))
    cat_ids = [3, 8, 11, 40, 41, 90]
    g = Gt()
    d = []
    for img in image_ids:
        for _ in range(rnd.randint(0, 9)):
            c = rnd.choice(cat_ids)
            w, h = rnd.choice([4, 8, 16, 24, 32, 40, 64, 96, 100, 128, 200]), rnd.choice([8, 16, 32, 48, 96, 150])
            x, y = rnd.randint(0, 500), rnd.randint(0, 400)
            crowd = 1 if rnd.random() < 0.06 else 0
            area = rnd.choice(['wh', 'wh', 'wh', round(w * h * rnd.uniform(0.5, 1.0), 1), None])
            g.add(img, c, [x, y, w, h], area=area, crowd=crowd)
            for _ in range(rnd.randint(0, 4)):
                dc = c if rnd.random() < 0.85 else rnd.choice(cat_ids)
                j = rnd.choice([0, 0, 1, 2, 4, 8, 16])
                bb = [x + rnd.randint(-j, j), y + rnd.randint(-j, j), max(0, w + rnd.randint(-j, j)),
                      max(0, h + rnd.randint(-j, j))]
                d.append(det(img, dc, bb, round(rnd.randint(1, 19) * 0.05, 2)))
        for _ in range(rnd.randint(0, 6)):
            d.append(det(img, rnd.choice(cat_ids), [rnd.randint(0, 600), rnd.randint(0, 450),
                                                      rnd.randint(1, 150), rnd.randint(1, 150)],
                         round(rnd.randint(1, 19) * 0.05, 2)))
    # two images with 130 detections of one category
    for img in image_ids[:2]:
        for j in range(130):
            d.append(det(img, 8, [rnd.randint(0, 600), rnd.randint(0, 450), rnd.randint(4, 120), rnd.randint(4, 120)],
                         round(rnd.randint(1, 19) * 0.05, 2)))
    rnd.shuffle(d)
    return imgs(*image_ids), cats(*cat_ids), g.anns, d


CASES = {
    'crowd': case_crowd,
    'area_boundaries': case_area_boundaries,
    'max_dets': case_max_dets,
    'score_ties': case_score_ties,
    'empty_results': case_empty_results,
    'categories': case_categories,
    'degenerate': case_degenerate,
    'images_without_gt': case_images_without_gt,
    'gt_id_zero': case_gt_id_zero,
    'match_order': case_match_order,
    'random_ties': case_random_ties,
}


def dump(obj, path):
    with open(path, 'w') as f:
        if isinstance(obj, list):
            f.write('[\n' + ',\n'.join(json.dumps(x) for x in obj) + '\n]\n')
        else:
            f.write(json.dumps(obj, indent=1) + '\n')


def main():
    if not ref.check(os.path.join(FIX, 'expected.json'), os.path.join(FIX, 'cases')):
        sys.exit('reference does not reproduce pycocotools on the shared cases')
    out = {'generator': 'scripts/coco-eval-make-fixtures.py', 'stat_names': [
        'AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100', 'ARs', 'ARm', 'ARl'], 'cases': {}}
    for name, make in CASES.items():
        images, categories, anns, dts = make()
        gt = {'info': {'description': f'detkd coco-eval edge case {name!r}'}, 'images': images,
              'annotations': anns, 'categories': categories}
        case_dir = os.path.join(FIX, 'edge', name)
        os.makedirs(case_dir, exist_ok=True)
        dump(gt, os.path.join(case_dir, 'gt.json'))
        dump(dts, os.path.join(case_dir, 'dt.json'))
        # evaluate what was written, as the tests will read it
        res = ref.evaluate(ref.load(os.path.join(case_dir, 'gt.json')), ref.load(os.path.join(case_dir, 'dt.json')))
        out['cases'][name] = res
        print(name, ' '.join(f'{v:.4f}' for v in res['stats']))
    dump(out, os.path.join(FIX, 'edge-expected.json'))


if __name__ == '__main__':
    main()
