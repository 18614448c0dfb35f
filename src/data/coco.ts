// COCO detection json + image folder: load, validate, and turn into per-image training records.
//
// Validation reports EVERY problem with the file name and the offending id/field. What counts as
// a problem (malformed data) and what is mere policy (clipping, dropping degenerate boxes):
//
// Problems (errors):
//   - top level: not JSON, not an object, missing/non-array 'images', 'annotations', 'categories'
//   - images[k]: missing/non-integer id, duplicate id, missing file_name, width/height missing or
//     not positive; file missing, unreadable or corrupt; decoded size differs from width/height
//   - categories[k]: missing/non-integer id, duplicate id, missing name
//   - annotations[k]: missing/non-integer id, duplicate id, image_id or category_id unknown,
//     bbox missing / not 4 numbers / non-finite / negative width or height, iscrowd not 0 or 1
// With onInvalid 'fail' (default) all problems are collected and one DetkdError lists them
// (the first `maxReported`, then a count). With 'skip', bad annotations are dropped, and images
// with a bad entry or a bad file are dropped with their annotations, each with a warning;
// problems that make the whole file unusable (top level, categories) still throw.
//
// Box policy for training (not problems; counted in `stats`):
//   - bbox [x, y, w, h] → xyxy [x, y, x + w, y + h] in original pixels, continuous coordinates
//   - clipped to the image [0, W] x [0, H]
//   - dropped if, after clipping, its width or height is < minBoxSize (default 1 px, as
//     mmdetection's CocoDataset drops w < 1 or h < 1); this drops zero-area and fully outside boxes
//   - iscrowd = 1 → an ignore region (clipped, same size rule), never a target
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { DetkdError } from '../core/errors.ts';
import { type CategoryInfo, CategoryMap } from './categories.ts';
import { decodeImageFile, readImageSize } from './decode.ts';

export interface CocoProblem {
  /** The json file (or image file) the problem is in. */
  file: string;
  /** Where: e.g. "annotations[12] (id 5)". */
  where: string;
  message: string;
}

export function formatProblem(p: CocoProblem): string {
  return `${p.file}: ${p.where}: ${p.message}`;
}

/** One image ready for the pipeline; boxes in original pixels after the box policy. */
export interface CocoImageRecord {
  imageId: number;
  fileName: string; // as in the json
  filePath: string; // resolved against imageDir
  height: number;
  width: number;
  boxes: Float32Array; // [G, 4] xyxy
  labels: Int32Array; // [G] contiguous 0..C-1
  ignore: Float32Array; // [I, 4] xyxy crowd regions
}

export interface CocoStats {
  images: number;
  annotations: number;
  /** Targets kept for training (non-crowd). */
  targets: number;
  crowd: number;
  clipped: number;
  droppedDegenerate: number;
  skippedAnnotations: number;
  skippedImages: number;
}

export type ImageCheck = 'none' | 'header' | 'decode';

export interface LoadCocoOptions {
  annFile: string;
  imageDir: string;
  /** 'fail': throw one error listing all problems (default). 'skip': drop bad entries with warnings. */
  onInvalid?: 'fail' | 'skip';
  /** How to check image files: header read (default), full decode, or not at all. */
  checkImages?: ImageCheck;
  /** Boxes narrower or shorter than this after clipping are dropped (default 1 px). */
  minBoxSize?: number;
  /** Drop images with no targets (default false). */
  filterEmpty?: boolean;
  /** Most problems listed in a thrown error (default 50). */
  maxReported?: number;
  /** Receives warnings in 'skip' mode (default console.warn). */
  warn?: (message: string) => void;
  /** Concurrent image checks (default 8). */
  concurrency?: number;
}

export interface CocoValidation {
  problems: CocoProblem[];
  /** Fatal: the file as a whole is unusable (skip mode cannot help). */
  fatal: boolean;
}

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

function idOf(o: unknown): string {
  return isObj(o) && o['id'] !== undefined ? ` (id ${show(o['id'])})` : '';
}

/** The result of loading: records, categories, problems found (in skip mode) and stats. */
export class CocoDataset {
  readonly annFile: string;
  readonly imageDir: string;
  readonly records: CocoImageRecord[];
  readonly categories: CategoryMap;
  readonly problems: CocoProblem[];
  readonly stats: CocoStats;

  constructor(init: {
    annFile: string;
    imageDir: string;
    records: CocoImageRecord[];
    categories: CategoryMap;
    problems: CocoProblem[];
    stats: CocoStats;
  }) {
    this.annFile = init.annFile;
    this.imageDir = init.imageDir;
    this.records = init.records;
    this.categories = init.categories;
    this.problems = init.problems;
    this.stats = init.stats;
  }

  get length(): number {
    return this.records.length;
  }

  get(index: number): CocoImageRecord {
    const r = this.records[index];
    if (r === undefined)
      throw new RangeError(`CocoDataset: index ${index} out of range 0..${this.length - 1}`);
    return r;
  }
}

async function readJson(annFile: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(annFile, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DetkdError(
      `${annFile}: cannot read annotation file (${code === 'ENOENT' ? 'file not found' : code})`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new DetkdError(`${annFile}: not valid JSON (${(err as Error).message})`);
  }
}

function throwProblems(annFile: string, problems: CocoProblem[], maxReported: number): never {
  const shown = problems.slice(0, maxReported).map((p) => `  ${formatProblem(p)}`);
  const more = problems.length > maxReported ? `\n  ... and ${problems.length - maxReported} more` : '';
  throw new DetkdError(
    `${annFile}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the dataset:\n${shown.join('\n')}${more}`,
  );
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const run = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}

interface Parsed {
  images: { k: number; id: number; fileName: string; width: number; height: number }[];
  anns: { k: number; id: number; imageId: number; categoryId: number; bbox: number[]; crowd: boolean }[];
  categories: CategoryInfo[];
  problems: CocoProblem[];
  fatal: boolean;
  badImageIds: Set<number>;
}

function parse(annFile: string, json: unknown): Parsed {
  const problems: CocoProblem[] = [];
  const out: Parsed = {
    images: [],
    anns: [],
    categories: [],
    problems,
    fatal: false,
    badImageIds: new Set(),
  };
  const add = (where: string, message: string): void => {
    problems.push({ file: annFile, where, message });
  };
  if (!isObj(json)) {
    add('top level', `expected an object with images, annotations, categories; got ${show(json)}`);
    out.fatal = true;
    return out;
  }
  for (const key of ['images', 'annotations', 'categories']) {
    if (!(key in json)) add('top level', `missing key '${key}'`);
    else if (!Array.isArray(json[key])) add('top level', `'${key}' must be an array, got ${show(json[key])}`);
  }
  if (problems.length > 0) {
    out.fatal = true;
    return out;
  }
  const images = json['images'] as unknown[];
  const anns = json['annotations'] as unknown[];
  const cats = json['categories'] as unknown[];

  // Categories: any problem here is fatal (the label map would be wrong).
  const catIds = new Set<number>();
  cats.forEach((c, k) => {
    const where = `categories[${k}]${idOf(c)}`;
    if (!isObj(c)) {
      add(where, `expected an object, got ${show(c)}`);
      return;
    }
    let ok = true;
    if (!('id' in c)) {
      add(where, `missing key 'id'`);
      ok = false;
    } else if (!isInt(c['id'])) {
      add(where, `'id' must be an integer, got ${show(c['id'])}`);
      ok = false;
    } else if (catIds.has(c['id'])) {
      add(where, `duplicate category id ${c['id']}`);
      ok = false;
    }
    if (!('name' in c)) {
      add(where, `missing key 'name'`);
      ok = false;
    } else if (typeof c['name'] !== 'string') {
      add(where, `'name' must be a string, got ${show(c['name'])}`);
      ok = false;
    }
    if (ok) {
      catIds.add(c['id'] as number);
      const info: CategoryInfo = { id: c['id'] as number, name: c['name'] as string };
      if (typeof c['supercategory'] === 'string') info.supercategory = c['supercategory'];
      out.categories.push(info);
    }
  });
  if (cats.length === 0) add('categories', 'no categories');
  if (problems.length > 0) out.fatal = true;

  const imageIds = new Set<number>();
  images.forEach((im, k) => {
    const where = `images[${k}]${idOf(im)}`;
    if (!isObj(im)) {
      add(where, `expected an object, got ${show(im)}`);
      return;
    }
    let ok = true;
    const id = im['id'];
    if (!('id' in im)) {
      add(where, `missing key 'id'`);
      ok = false;
    } else if (!isInt(id)) {
      add(where, `'id' must be an integer, got ${show(id)}`);
      ok = false;
    } else if (imageIds.has(id)) {
      add(where, `duplicate image id ${id}`);
      ok = false;
    }
    if (!('file_name' in im)) {
      add(where, `missing key 'file_name'`);
      ok = false;
    } else if (typeof im['file_name'] !== 'string' || im['file_name'] === '') {
      add(where, `'file_name' must be a non-empty string, got ${show(im['file_name'])}`);
      ok = false;
    }
    for (const key of ['width', 'height']) {
      if (!(key in im)) {
        add(where, `missing key '${key}'`);
        ok = false;
      } else if (!isInt(im[key]) || (im[key] as number) <= 0) {
        add(where, `'${key}' must be a positive integer, got ${show(im[key])}`);
        ok = false;
      }
    }
    if (isInt(id) && !imageIds.has(id)) {
      imageIds.add(id);
      if (!ok) out.badImageIds.add(id);
    }
    if (ok) {
      out.images.push({
        k,
        id: id as number,
        fileName: im['file_name'] as string,
        width: im['width'] as number,
        height: im['height'] as number,
      });
    }
  });

  const annIds = new Set<number>();
  anns.forEach((a, k) => {
    const where = `annotations[${k}]${idOf(a)}`;
    if (!isObj(a)) {
      add(where, `expected an object, got ${show(a)}`);
      return;
    }
    let ok = true;
    if (!('id' in a)) {
      add(where, `missing key 'id'`);
      ok = false;
    } else if (!isInt(a['id'])) {
      add(where, `'id' must be an integer, got ${show(a['id'])}`);
      ok = false;
    } else if (annIds.has(a['id'])) {
      add(where, `duplicate annotation id ${a['id']}`);
      ok = false;
    } else annIds.add(a['id']);
    for (const [key, known, what] of [
      ['image_id', imageIds, 'image'],
      ['category_id', catIds, 'category'],
    ] as const) {
      if (!(key in a)) {
        add(where, `missing key '${key}'`);
        ok = false;
      } else if (!isInt(a[key])) {
        add(where, `'${key}' must be an integer, got ${show(a[key])}`);
        ok = false;
      } else if (!known.has(a[key] as number)) {
        add(where, `'${key}' ${a[key]} refers to no ${what} in the file`);
        ok = false;
      }
    }
    const bbox = a['bbox'];
    if (!('bbox' in a)) {
      add(where, `missing key 'bbox'`);
      ok = false;
    } else if (!Array.isArray(bbox) || bbox.length !== 4) {
      add(where, `'bbox' must be an array of 4 numbers [x, y, w, h], got ${show(bbox)}`);
      ok = false;
    } else {
      const names = ['x', 'y', 'width', 'height'];
      bbox.forEach((v, j) => {
        if (typeof v !== 'number' || !Number.isFinite(v)) {
          add(where, `bbox[${j}] (${names[j]}) must be a finite number, got ${show(v)}`);
          ok = false;
        } else if (j >= 2 && v < 0) {
          add(where, `bbox[${j}] (${names[j]}) is negative (${v})`);
          ok = false;
        }
      });
    }
    const crowd = a['iscrowd'] ?? 0;
    if (crowd !== 0 && crowd !== 1 && crowd !== true && crowd !== false) {
      add(where, `'iscrowd' must be 0 or 1, got ${show(crowd)}`);
      ok = false;
    }
    if (ok) {
      out.anns.push({
        k,
        id: a['id'] as number,
        imageId: a['image_id'] as number,
        categoryId: a['category_id'] as number,
        bbox: bbox as number[],
        crowd: crowd === 1 || crowd === true,
      });
    }
  });
  return out;
}

async function checkImageFiles(
  images: Parsed['images'],
  imageDir: string,
  mode: ImageCheck,
  concurrency: number,
): Promise<Map<number, CocoProblem>> {
  const bad = new Map<number, CocoProblem>();
  if (mode === 'none') return bad;
  await mapLimit(images, concurrency, async (im) => {
    const path = resolveImagePath(imageDir, im.fileName);
    const where = `images[${im.k}] (id ${im.id})`;
    try {
      const size = mode === 'decode' ? await decodeImageFile(path) : await readImageSize(path);
      if (size.height !== im.height || size.width !== im.width) {
        bad.set(im.id, {
          file: path,
          where,
          message: `image is ${size.width}x${size.height} (w x h) but the json says ${im.width}x${im.height}`,
        });
      }
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      // The DetkdError message starts with the path; keep only the reason.
      bad.set(im.id, { file: path, where, message: msg.startsWith(path) ? msg.slice(path.length + 2) : msg });
    }
  });
  return bad;
}

/**
 * Why `ds` has nothing to train on (no usable image, or no box on any image), naming its file;
 * null when it has something. With `needTargets` false only images are asked for (a val set).
 */
export function emptyReason(ds: CocoDataset, needTargets = true): string | null {
  const s = ds.stats;
  if (s.images === 0) {
    return s.skippedImages > 0
      ? `${ds.annFile}: no usable image (all ${s.skippedImages} were skipped)`
      : `${ds.annFile}: 'images' is empty`;
  }
  if (needTargets && s.targets === 0) {
    return s.annotations + s.skippedAnnotations === 0
      ? `${ds.annFile}: 'annotations' is empty: there is no box to train on`
      : `${ds.annFile}: no usable box on any of its ${s.images} image(s) (${s.annotations + s.skippedAnnotations} annotation(s), all crowd, degenerate or skipped)`;
  }
  return null;
}

export function resolveImagePath(imageDir: string, fileName: string): string {
  return isAbsolute(fileName) ? fileName : resolve(join(imageDir, fileName));
}

/**
 * Validates a COCO json and its images without building records. Never throws for data problems
 * (only for an unreadable or non-JSON file); returns every problem found.
 */
export async function validateCoco(opts: LoadCocoOptions): Promise<CocoValidation> {
  const json = await readJson(opts.annFile);
  const parsed = parse(opts.annFile, json);
  if (parsed.fatal) return { problems: parsed.problems, fatal: true };
  const bad = await checkImageFiles(
    parsed.images,
    opts.imageDir,
    opts.checkImages ?? 'header',
    opts.concurrency ?? 8,
  );
  const problems = [...parsed.problems, ...[...bad.values()]];
  return { problems, fatal: false };
}

/**
 * Loads a COCO detection dataset (see the file comment for validation and the box policy).
 *
 * @example
 * const ds = await loadCoco({ annFile: 'data/synth/train.json', imageDir: 'data/synth/images' });
 * ds.get(0).boxes; // [G, 4] xyxy, original pixels
 */
export async function loadCoco(opts: LoadCocoOptions): Promise<CocoDataset> {
  const { annFile, imageDir } = opts;
  const onInvalid = opts.onInvalid ?? 'fail';
  const minBox = opts.minBoxSize ?? 1;
  const maxReported = opts.maxReported ?? 50;
  const warn = opts.warn ?? ((m: string) => console.warn(`detkd: warning: ${m}`));
  const json = await readJson(annFile);
  const parsed = parse(annFile, json);
  if (parsed.fatal) throwProblems(annFile, parsed.problems, maxReported);
  const badFiles = await checkImageFiles(
    parsed.images,
    imageDir,
    opts.checkImages ?? 'header',
    opts.concurrency ?? 8,
  );
  const problems = [...parsed.problems, ...[...badFiles.values()]];
  if (problems.length > 0 && onInvalid === 'fail') throwProblems(annFile, problems, maxReported);

  const categories = new CategoryMap(parsed.categories);
  const stats: CocoStats = {
    images: 0,
    annotations: 0,
    targets: 0,
    crowd: 0,
    clipped: 0,
    droppedDegenerate: 0,
    skippedAnnotations: 0,
    skippedImages: 0,
  };
  const rawAnnCount = ((json as Json)['annotations'] as unknown[]).length;
  stats.skippedAnnotations = rawAnnCount - parsed.anns.length;
  for (const p of problems) warn(`${formatProblem(p)} (skipped)`);

  const images = parsed.images.filter((im) => !badFiles.has(im.id) && !parsed.badImageIds.has(im.id));
  const byImage = new Map<number, { boxes: number[]; labels: number[]; ignore: number[] }>();
  for (const im of images) byImage.set(im.id, { boxes: [], labels: [], ignore: [] });
  const sizes = new Map(images.map((im) => [im.id, im]));
  for (const a of parsed.anns) {
    const acc = byImage.get(a.imageId);
    const im = sizes.get(a.imageId);
    if (acc === undefined || im === undefined) {
      stats.skippedAnnotations++; // its image was skipped
      continue;
    }
    stats.annotations++;
    const [x, y, w, h] = a.bbox as [number, number, number, number];
    const x1 = Math.min(Math.max(x, 0), im.width);
    const y1 = Math.min(Math.max(y, 0), im.height);
    const x2 = Math.min(Math.max(x + w, 0), im.width);
    const y2 = Math.min(Math.max(y + h, 0), im.height);
    if (x2 - x1 < minBox || y2 - y1 < minBox) {
      stats.droppedDegenerate++;
      continue;
    }
    if (x1 !== x || y1 !== y || x2 !== x + w || y2 !== y + h) stats.clipped++;
    if (a.crowd) {
      acc.ignore.push(x1, y1, x2, y2);
      stats.crowd++;
    } else {
      acc.boxes.push(x1, y1, x2, y2);
      acc.labels.push(categories.labelOf(a.categoryId)!);
      stats.targets++;
    }
  }
  const rawImageCount = ((json as Json)['images'] as unknown[]).length;
  stats.skippedImages = rawImageCount - images.length;
  const records: CocoImageRecord[] = [];
  for (const im of [...images].sort((p, q) => p.id - q.id)) {
    const acc = byImage.get(im.id)!;
    if (opts.filterEmpty && acc.labels.length === 0) continue;
    records.push({
      imageId: im.id,
      fileName: im.fileName,
      filePath: resolveImagePath(imageDir, im.fileName),
      height: im.height,
      width: im.width,
      boxes: Float32Array.from(acc.boxes),
      labels: Int32Array.from(acc.labels),
      ignore: Float32Array.from(acc.ignore),
    });
  }
  stats.images = records.length;
  return new CocoDataset({ annFile, imageDir, records, categories, problems, stats });
}
