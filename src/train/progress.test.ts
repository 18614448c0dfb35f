import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  fmtDuration,
  fmtNum,
  formatBar,
  formatLine,
  Progress,
  type ProgressInfo,
  WindowMean,
} from './progress.ts';

const info: ProgressInfo = {
  epoch: 2,
  epochs: 12,
  step: 120,
  stepsPerEpoch: 500,
  iter: 1120,
  totalIters: 6000,
  losses: { loss: 1.2344, loss_cls: 0.8, loss_bbox: 0.4344 },
  lossKind: 'ema',
  lr: 0.01,
  secPerIter: 0.31,
};

test('numbers and durations', () => {
  assert.equal(fmtNum(0.01), '0.01');
  assert.equal(fmtNum(1.23456), '1.235');
  assert.equal(fmtNum(1e-7), '1e-7');
  assert.equal(fmtNum(2.5e-5), '2.5e-5');
  assert.equal(fmtNum(0), '0');
  assert.equal(fmtNum(Number.NaN), 'NaN');
  assert.equal(fmtDuration(45), '45s');
  assert.equal(fmtDuration(723), '12m03s');
  assert.equal(fmtDuration(3 * 3600 + 7 * 60 + 5), '3h07m');
});

test('the plain line says how its losses are averaged', () => {
  assert.equal(
    formatLine({ ...info, lossKind: 'mean' }),
    'epoch 3/12 iter 120/500 loss(mean) 1.234 (loss_cls 0.8, loss_bbox 0.4344) lr 0.01 0.31 s/it eta 25m13s',
  );
  assert.equal(
    formatLine({ ...info, losses: { loss: 2 }, secPerIter: 0 }),
    'epoch 3/12 iter 120/500 loss(ema) 2 lr 0.01',
  );
});

test('the bar: everything on a wide terminal; the least useful parts go first, the ETA stays', () => {
  assert.equal(
    formatBar(info, 200),
    'epoch 3/12 120/500 [######........................] 18% loss(ema) 1.234 (loss_cls 0.8, loss_bbox 0.4344) lr 0.01 3.226 it/s eta 25m13s',
  );
  // 80 columns: the loss terms and the lr go, the bar shrinks; 79 characters, the last column
  // left free.
  assert.equal(
    formatBar(info, 80),
    'epoch 3/12 120/500 [###.............] 18% loss(ema) 1.234 3.226 it/s eta 25m13s',
  );
  assert.equal(formatBar(info, 60), 'epoch 3/12 120/500 18% loss(ema) 1.234 eta 25m13s');
  assert.equal(formatBar(info, 40), 'epoch 3/12 120/500 18% eta 25m13s');
  assert.equal(formatBar(info, 20), 'epoch 3/ eta 25m13s');
  for (let cols = 20; cols <= 200; cols++) {
    const b = formatBar(info, cols);
    assert.ok(b.length < cols, `${cols} columns: ${b.length} characters`);
    assert.ok(b.endsWith(' eta 25m13s'), `${cols} columns: no ETA in '${b}'`);
  }
  // A terminal that reports 0 columns (or none) gets 80, not an empty line.
  assert.equal(formatBar(info, 0), formatBar(info, 80));
  assert.equal(formatBar(info, Number.NaN), formatBar(info, 80));
});

test('Progress: bar redraws in place and prints lines above it; lines mode prints lines only', () => {
  let text = '';
  const tty = {
    isTTY: true,
    columns: 100,
    write: (s: string): void => {
      text += s;
    },
  };
  const p = new Progress('bar', tty, 0);
  p.update(info);
  assert.ok(text.endsWith(formatBar(info, 100)));
  p.line('eval: AP 0.3');
  p.update(info);
  p.done();
  assert.equal(text.split('\r\x1b[2K').length - 1, 4); // draw, clear, draw, clear
  assert.ok(text.includes('eval: AP 0.3\n'));
  text = '';
  const q = new Progress('lines', {
    write: (s: string): void => {
      text += s;
    },
  });
  q.update(info);
  q.line('x');
  assert.equal(text, 'x\n');
  // A TTY that reports 0 columns still gets a bar (80 wide), not an empty line.
  text = '';
  const zeroTty = {
    isTTY: true,
    columns: 0,
    write: (s: string): void => {
      text += s;
    },
  };
  const zero = new Progress('bar', zeroTty, 0);
  zero.update(info);
  assert.equal(text, `\r\x1b[2K${formatBar(info, 80)}`);
  assert.match(text, /eta 25m13s$/);
});

test('WindowMean averages since the last take', () => {
  const w = new WindowMean();
  w.add({ a: 1 });
  w.add({ a: 3 });
  assert.deepEqual(w.take(), { a: 2 });
  assert.equal(w.count, 0);
});
