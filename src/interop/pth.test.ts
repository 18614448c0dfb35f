// The .pth reader against torch.save's own files (scripts/fixtures/pth_oracle.py, torch 1.13):
// every tensor bit-identical to the copy torch made, in both formats; wrappers unwrapped; meta
// read; shared storages; hostile pickles refused with nothing run; damaged files refused clearly.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { compareBits, fixturePath, loadOracle } from '../../test/support/oracle.ts';
import { DetkdError } from '../core/errors.ts';
import {
  allowListResolver,
  containerGlobals,
  dictAttributes,
  PyGlobal,
  PyTuple,
  readPickle,
} from './pickle.ts';
import {
  ALLOWED,
  materialize,
  type PthFile,
  parsePth,
  plainMeta,
  readCheckpointObject,
  readPth,
  StorageRef,
  TensorRecord,
  tensorBytes,
} from './pth.ts';
import { readZip } from './zip.ts';

const DIR = fixturePath('pth');
const oracle = loadOracle('pth');
type Case = { layout: PthFile['layout']; keys: string[]; classes: string[] | null };
const cases = oracle.cases<Case>();
type Hostile = { global: string; marker: string; file: string };
const hostile = oracle.json<Record<string, Hostile>>('hostile');
const FORMATS = ['zip', 'legacy'] as const;

function classesOf(meta: unknown): unknown {
  const m = meta as { CLASSES?: unknown; dataset_meta?: { classes?: unknown } } | null;
  return m?.CLASSES ?? m?.dataset_meta?.classes ?? null;
}

function disposeAll(f: PthFile): void {
  for (const t of f.tensors.values()) t.dispose();
}

function throwsDetkd(fn: () => unknown, ...parts: (string | RegExp)[]): string {
  let msg = '';
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DetkdError, `expected a DetkdError, got ${String(e)}`);
    msg = e.message;
    return true;
  });
  for (const p of parts) {
    if (typeof p === 'string') assert.ok(msg.includes(p), `message lacks '${p}': ${msg}`);
    else assert.match(msg, p);
  }
  return msg;
}

test('the fixtures cover every case and both formats', () => {
  assert.deepEqual(Object.keys(cases).sort(), [
    'ddp',
    'mmdet',
    'mmdet3',
    'mmengine',
    'model',
    'resnet',
    'tensors',
  ]);
  assert.ok(cases.resnet!.keys.length >= 20);
});

for (const [name, c] of Object.entries(cases)) {
  for (const fmt of FORMATS) {
    test(`${name} (${fmt}): every tensor bit-identical to torch's, layout '${c.layout}'`, () => {
      const f = readPth(join(DIR, `${name}_${fmt}.pth`));
      try {
        assert.equal(f.layout, c.layout);
        assert.deepEqual([...f.tensors.keys()], c.keys);
        for (const k of c.keys) {
          const diff = compareBits(f.tensors.get(k)!, oracle.get(`${name}/${k}`));
          assert.equal(diff, null, `${name}_${fmt}.pth '${k}': ${diff}`);
        }
        assert.deepEqual(classesOf(f.meta), c.classes);
      } finally {
        disposeAll(f);
      }
    });
  }
}

test('torch.save shapes and dtypes arrive as saved (resnet fp16, every dtype, views)', () => {
  const f = readPth(join(DIR, 'tensors_zip.pth'));
  try {
    const t = (k: string) => f.tensors.get(k)!;
    assert.deepEqual(t('transposed').shape, [6, 4]);
    assert.deepEqual(t('slice').shape, [2, 3]);
    assert.deepEqual(t('expanded').shape, [3, 6]);
    assert.deepEqual(t('scalar').shape, []);
    assert.deepEqual(t('empty').shape, [0, 3]);
    const dtypes = ['float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'];
    for (const d of dtypes) assert.equal(t(d).dtype, d);
    // a transposed view is a copy in row-major order: element [j][i] of the base
    assert.deepEqual(t('int64_t').toArray(), [0, 3, 1, 4, 2, 5]);
  } finally {
    disposeAll(f);
  }
  const r = readPth(join(DIR, 'resnet_zip.pth'));
  try {
    assert.equal(r.tensors.get('conv1.weight')!.dtype, 'float16');
    assert.deepEqual(r.tensors.get('conv1.weight')!.shape, [64, 3, 7, 7]);
    assert.equal(r.tensors.get('bn1.num_batches_tracked')!.dtype, 'int64');
  } finally {
    disposeAll(r);
  }
});

for (const fmt of FORMATS) {
  test(`views share their base's storage (${fmt})`, () => {
    const raw = readCheckpointObject(readFileSync(join(DIR, `tensors_${fmt}.pth`)), 'tensors.pth');
    const top = raw.object as Map<string, TensorRecord>;
    const base = top.get('base')!.storage;
    for (const k of ['transposed', 'slice', 'row', 'expanded']) assert.equal(top.get(k)!.storage, base, k);
    assert.notEqual(top.get('param')!.storage, base);
    assert.deepEqual(top.get('transposed')!.stride, [1, 6]);
    assert.deepEqual(top.get('expanded')!.stride, [0, 1]);
    assert.equal(top.get('row')!.offset, 12);
    // one storage for the base and its views, one for every other tensor (bool_t shares bool's)
    assert.equal(raw.storages.size, 14);
  });
}

test("state_dict()'s _metadata (BUILD on the OrderedDict) is kept apart from the tensors", () => {
  for (const fmt of FORMATS) {
    const raw = readCheckpointObject(readFileSync(join(DIR, `resnet_${fmt}.pth`)), 'resnet.pth');
    const sd = raw.object as Map<unknown, unknown>;
    assert.ok(!sd.has('_metadata'));
    const meta = plainMeta(dictAttributes(sd)) as { _metadata: Record<string, { version: number }> };
    assert.deepEqual(meta._metadata.bn1, { version: 2 });
    assert.deepEqual(meta._metadata['layer1.0.conv1'], { version: 1 });
  }
});

test('mmdet: ema_ keys set aside with a note, meta read with placeholders', () => {
  const f = readPth(join(DIR, 'mmdet_zip.pth'));
  try {
    assert.ok(![...f.tensors.keys()].some((k) => k.startsWith('ema_')));
    assert.equal(f.notes.length, 1);
    assert.match(f.notes[0]!, /set aside 2 'ema_' keys/);
    assert.match(f.notes[0]!, /ema_backbone_conv1_weight/);
    const meta = f.meta as Record<string, unknown>;
    assert.equal(meta.epoch, 12);
    assert.equal(meta.mmdet_version, '2.28.2');
    assert.deepEqual(meta.hook_msgs, { last_ckpt: 'work/epoch_12.pth' });
    assert.deepEqual(meta.dtype, { $global: 'torch.float16' });
    assert.equal(meta.big, String(2n ** 70n));
    assert.deepEqual(meta.raw, { $bytes: 2 });
  } finally {
    disposeAll(f);
  }
});

test("ddp: the 'module.' prefix removed, with a note naming the keys", () => {
  const f = readPth(join(DIR, 'ddp_legacy.pth'));
  try {
    assert.ok(!f.tensors.has('module.backbone.conv1.weight'));
    assert.ok(f.tensors.has('backbone.conv1.weight'));
    assert.equal(f.notes.length, 1);
    assert.match(
      f.notes[0]!,
      /removed the DDP prefix 'module\.' from 5 keys \('module\.backbone\.conv1\.weight'/,
    );
  } finally {
    disposeAll(f);
  }
});

test('{model: ...}: argparse.Namespace and torch.device in the wrapper are read as data', () => {
  const raw = readCheckpointObject(readFileSync(join(DIR, 'model_zip.pth')), 'model.pth');
  const args = plainMeta((raw.object as Map<string, unknown>).get('args')) as Record<string, unknown>;
  assert.deepEqual(args, {
    $object: 'argparse.Namespace',
    lr: 0.02,
    epochs: 26,
    data_path: '/data/coco',
    device: 'cpu',
  });
  assert.equal((raw.object as Map<string, unknown>).get('epoch'), 25);
});

test('mmengine: numpy scalars in meta decoded, message_hub HistoryBuffers read as data', () => {
  const f = readPth(join(DIR, 'mmengine_zip.pth'));
  try {
    assert.deepEqual(f.meta, {
      dataset_meta: { classes: ['cat', 'dog'] },
      epoch: 12,
      seed: 42,
      hook_msgs: { best_score: 0.3125, best_ok: true },
    });
  } finally {
    disposeAll(f);
  }
  const raw = readCheckpointObject(readFileSync(join(DIR, 'mmengine_legacy.pth')), 'mmengine.pth');
  const hub = plainMeta((raw.object as Map<string, unknown>).get('message_hub')) as {
    log_scalars: Record<string, unknown>;
  };
  assert.deepEqual(hub.log_scalars['train/loss'], {
    $object: 'mmengine.logging.history_buffer.HistoryBuffer',
    max_length: 1000000,
    _log_history: { $ndarray: { dtype: '<f8', shape: [2], values: [1.5, 0.75] } },
    _count_history: { $ndarray: { dtype: '<i8', shape: [2], values: [1, 1] } },
  });
});

test('numpy: only ndarray is reconstructed, and object arrays are refused', () => {
  const np = 'cnumpy.core.multiarray\n_reconstruct\n';
  throwsDetkd(
    () => readPickle(pkl('\x80\x02', np, 'cnumpy\nmatrix\nK\x00\x85C\x01b\x87R.'), resolver),
    "refuses to reconstruct 'numpy.matrix'",
  );
  // an object array's BUILD carries a list, not bytes
  const objArray = pkl(
    '\x80\x02',
    np,
    'cnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01K\x01\x85cnumpy\ndtype\n',
    ...unicode('f8'),
    '\x89\x88\x87R\x89]tb.',
  );
  throwsDetkd(() => readPickle(objArray, resolver), 'numpy object arrays are not supported');
});

test('a global stored only as data is an inert placeholder, not an error', () => {
  const f = readPth(join(DIR, 'global_as_data.pth'));
  try {
    assert.deepEqual((f.meta as { hook: unknown }).hook, { $global: 'posix.system' });
    for (const [k, t] of f.tensors) assert.equal(compareBits(t, oracle.get(`global_as_data/${k}`)), null, k);
  } finally {
    disposeAll(f);
  }
});

for (const proto of [2, 3, 4, 5]) {
  test(`plain values pickled at protocol ${proto} read as Python wrote them`, () => {
    const bytes = readFileSync(join(DIR, `plain_p${proto}.pkl`));
    const { value, end } = readPickle(bytes, allowListResolver(containerGlobals()), { where: 'plain.pkl' });
    assert.equal(end, bytes.length);
    const norm = (x: unknown): unknown =>
      typeof x === 'number' && !Number.isFinite(x)
        ? String(x).replace('Infinity', 'inf')
        : Array.isArray(x)
          ? x.map(norm)
          : x !== null && typeof x === 'object'
            ? Object.fromEntries(Object.entries(x).map(([k, v]) => [k, norm(v)]))
            : x;
    assert.deepStrictEqual(norm(plainMeta(value)), oracle.json('plain'));
    // shared references stay shared (the memo), they are not copies
    const shared = (value as Map<unknown, unknown>).get('shared') as unknown[][];
    assert.equal(shared[0], shared[1]);
  });
}

// --- hostile files ------------------------------------------------------------------------------

test('the hostile fixtures cover os.system, eval, subprocess and an unknown class', () => {
  assert.deepEqual(
    Object.values(hostile)
      .map((h) => h.global)
      .sort(),
    ['__main__.Payload', 'builtins.eval', 'posix.system', 'subprocess.Popen'],
  );
});

for (const [name, h] of Object.entries(hostile)) {
  test(`hostile ${name}: refused naming '${h.global}', and nothing runs`, () => {
    rmSync(h.marker, { force: true });
    throwsDetkd(() => readPth(join(DIR, h.file)), `refuses to call '${h.global}'`, h.file, 'data.pkl');
    assert.equal(existsSync(h.marker), false, `${h.marker} was created`);
  });
}

/** A protocol-2 pickle from opcodes (latin1 text) and raw bytes. */
function pkl(...parts: (string | number[])[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'string') for (const ch of p) out.push(ch.charCodeAt(0));
    else out.push(...p);
  }
  return Uint8Array.from(out);
}
const u32 = (n: number) => [n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255];
const unicode = (s: string) => ['X', u32(s.length), s] as const;
const resolver = allowListResolver(ALLOWED, () => {
  throw new DetkdError('no storages here');
});

test('hand-built pickles: every calling opcode on a forbidden global is refused by name', () => {
  const evalArgs = [...unicode("__import__('os').system('touch /tmp/x')"), '\x85'] as const;
  const cases: [string, Uint8Array][] = [
    ['builtins.eval', pkl('\x80\x02cbuiltins\neval\n', ...evalArgs, 'R.')],
    ['builtins.exec', pkl('\x80\x02c__builtin__\nexec\n', ...evalArgs, 'R.')],
    // protocol 4: STACK_GLOBAL and FRAME, MEMOIZE
    [
      'os.system',
      pkl(
        '\x80\x04\x95',
        [40, 0, 0, 0, 0, 0, 0, 0],
        '\x8c\x02os\x94\x8c\x06system\x94\x93\x94',
        ...evalArgs,
        'R.',
      ),
    ],
    ['subprocess.check_output', pkl('\x80\x02csubprocess\ncheck_output\n', ...evalArgs, '\x81.')],
    ['posix.system', pkl('(', ...unicode('id'), 'iposix\nsystem\n.')],
    ['nt.system', pkl('(cnt\nsystem\n', ...unicode('id'), 'o.')],
    ['evil.Thing', pkl('\x80\x04cevil\nThing\n)}\x92.')],
  ];
  for (const [name, bytes] of cases) {
    throwsDetkd(
      () => readPickle(bytes, resolver, { where: 'x.pth: data.pkl' }),
      `refuses to call '${name}'`,
      'x.pth',
    );
  }
  // BUILD on anything but a dict or a Namespace would run __setstate__
  throwsDetkd(() => readPickle(pkl('\x80\x02ctorch\nfloat32\n}b.'), resolver), /BUILD .* refused/);
});

test('a forbidden global in a tensor position is refused, even inside the tensor rebuild call', () => {
  // _rebuild_tensor_v2(os.system('id'), 0, (1,), (1,), False, OrderedDict())
  const bytes = pkl(
    '\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(cos\nsystem\n',
    ...unicode('id'),
    '\x85RK\x00K\x01\x85K\x01\x85\x89ccollections\nOrderedDict\n)Rtr.',
  );
  throwsDetkd(() => readPickle(bytes, resolver), "refuses to call 'os.system'");
  // ... and a tensor rebuilt from a placeholder instead of a storage is an error naming it
  const bytes2 = pkl('\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(cos\nsystem\nK\x00)))tR.');
  throwsDetkd(() => readPickle(bytes2, resolver), "the storage is 'os.system', not a storage");
});

test('a legacy-format hostile file is refused before any storage is read', () => {
  const good = readFileSync(join(DIR, 'ddp_legacy.pth'));
  // keep the magic number, protocol and system info pickles; replace the object pickle
  let end = 0;
  for (let k = 0; k < 3; k++) end = readPickle(good, allowListResolver([]), { offset: end }).end;
  const evil = pkl('\x80\x02cposix\nsystem\n', ...unicode('touch /tmp/detkd-legacy'), '\x85R.');
  const bytes = new Uint8Array(end + evil.length);
  bytes.set(good.subarray(0, end));
  bytes.set(evil, end);
  throwsDetkd(() => parsePth(bytes, 'evil.pth'), "evil.pth: object pickle: refuses to call 'posix.system'");
  assert.equal(existsSync('/tmp/detkd-legacy'), false);
});

test('an unknown storage type in a persistent id is refused by name', () => {
  const r = allowListResolver(ALLOWED, () => {
    throw new DetkdError("storage type 'evil.Storage' is not one detkd reads");
  });
  const bytes = pkl('\x80\x02(', ...unicode('storage'), 'cevil\nStorage\n', ...unicode('0'), 'tQ.');
  throwsDetkd(
    () => readPickle(bytes, r, { where: 'f.pth: data.pkl' }),
    'f.pth: data.pkl: persistent id',
    'evil.Storage',
  );
});

// --- damaged files --------------------------------------------------------------------------------

test('truncated and inconsistent files name the file and the entry', () => {
  const zip = readFileSync(join(DIR, 'resnet_zip.pth'));
  throwsDetkd(
    () => parsePth(zip.subarray(0, zip.length - 100), 'model.pth'),
    'model.pth: not a complete zip archive',
  );
  const legacy = readFileSync(join(DIR, 'resnet_legacy.pth'));
  throwsDetkd(
    () => parsePth(legacy.subarray(0, legacy.length - 10), 'model.pth'),
    /^model\.pth: storage '\d+': \d+ bytes at byte \d+ run past the end of the file/,
  );
  throwsDetkd(
    () => parsePth(legacy.subarray(0, 200), 'model.pth'),
    /^model\.pth: object pickle: unexpected end at byte 200/,
  );
  const entries = readZip(zip, 'model.pth');
  const pickle = entries.get('resnet_zip/data.pkl')!.data;
  const storages = allowListResolver(ALLOWED, () => new StorageRef('0', 'float16', 1));
  throwsDetkd(
    () => readPickle(pickle.subarray(0, 1234), storages, { where: 'model.pth: data.pkl' }),
    'model.pth: data.pkl: unexpected end at byte 1234',
  );
  throwsDetkd(() => parsePth(new Uint8Array([1, 2, 3]), 'x.pth'), 'x.pth: not a PyTorch checkpoint');
  throwsDetkd(() => readPth(join(DIR, 'missing.pth')), 'missing.pth: cannot read (ENOENT)');
});

test('a storage entry shorter than its persistent id says names the file, the entry and the sizes', () => {
  throwsDetkd(
    () => readPth(join(DIR, 'short_storage.pth')),
    /short_storage\.pth: storage 'data\/0' holds 40 bytes, its 108 float32 elements need 432$/,
  );
});

test('a storage too small for its tensor names the storage, the sizes and the tensor', () => {
  const s = new StorageRef('3', 'float32', 10);
  s.bytes = new Uint8Array(40);
  s.label = 'data/3';
  const rec = new TensorRecord(s, 0, [64, 3, 7, 7], [147, 49, 7, 1]);
  throwsDetkd(() => tensorBytes(rec, 1 << 30), "storage 'data/3' holds 40 bytes", 'needs 37632');
  // an expanded view may not blow a small file up into a huge allocation
  const big = new TensorRecord(s, 0, [1 << 20, 1 << 10], [0, 0]);
  throwsDetkd(() => tensorBytes(big, 1 << 20), /would expand 40 stored bytes to 4294967296/);
  // an in-bounds strided view reads the right elements
  const v = new DataView(s.bytes.buffer);
  for (let k = 0; k < 10; k++) v.setFloat32(4 * k, k, true);
  const t = materialize(new TensorRecord(s, 1, [2, 3], [1, 3]), 1 << 20);
  assert.deepEqual(t.toArray(), [1, 4, 7, 2, 5, 8]);
  t.dispose();
});

test('a corrupt byte in a zip entry fails its CRC check, naming the entry', () => {
  const zip = new Uint8Array(readFileSync(join(DIR, 'ddp_zip.pth')));
  const e = readZip(zip, 'ddp.pth').get('ddp_zip/data/0')!;
  zip[e.data.byteOffset - zip.byteOffset] ^= 0x10;
  throwsDetkd(() => parsePth(zip, 'ddp.pth'), "ddp.pth: zip entry 'ddp_zip/data/0' fails its CRC-32 check");
});

test('a compressed archive is refused naming the entry', () => {
  throwsDetkd(
    () => readPth(join(DIR, 'compressed.pth')),
    "zip entry 'compressed/data.pkl' is compressed (method 8)",
  );
});

test('readPickle leaves PyGlobal placeholders for data and PyTuple for tuples', () => {
  const { value } = readPickle(pkl('\x80\x02ctorch\nfloat16\nK\x01\x86.'), resolver);
  assert.ok(value instanceof PyTuple);
  assert.ok(value.items[0] instanceof PyGlobal);
  assert.equal((value.items[0] as PyGlobal).qualname, 'torch.float16');
});
