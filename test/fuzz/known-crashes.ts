// Inputs known to kill the process (a native crash inside libtorch 1.13's kernels, not a JS
// exception). The fuzz worker skips a call that one of these matches, and the test prints every
// entry it skipped, so the list shrinks as the engine learns to refuse these inputs. Each entry
// names the op, the arguments and the signal; test/fuzz/crash-repro.ts reproduces them one by one
// (and tells which are fixed).
//
// A call is described by its op label (e.g. 'aten::conv2d') and one description per argument, in
// schema order, as the worker writes them: numbers as String(n), tensors as 'i64[2,3]{min,max,-1}'
// and so on ('·' is an argument left out).

export interface KnownCrash {
  id: string;
  note: string;
  when: (label: string, args: readonly string[]) => boolean;
}

const TWO32 = 2n ** 32n;

function intArg(d: string | undefined): bigint | null {
  if (d === undefined || !/^-?\d+$/.test(d)) return null;
  // via Number: String(2 ** 62) is '4611686018427388000', which parses back to exactly 2^62
  return BigInt(Number(d));
}

/** True when the description is an integer tensor holding the minimum of its type. */
function hasIntMin(d: string | undefined): boolean {
  return d !== undefined && /^(i64|i32)\[.*\{min/.test(d);
}

/** True when the description is -1 as a scalar or as an integer tensor holding -1. */
function hasMinusOne(d: string | undefined): boolean {
  return d === '-1' || (d !== undefined && /^(i64|i32)\[.*(\{|,)-1[,}]/.test(d)) || d === 'i64[] -1';
}

/** Any integer tensor: out-of-range values in all of them except the {0,1} baselines. */
function isBadIndexTensor(d: string | undefined): boolean {
  return d !== undefined && /^(i64|i32|i16|i8|u8)\[/.test(d) && !d.endsWith('{0,1}');
}

/** Inputs that crash the process today: none. The fuzz skips calls matching an entry. */
export const KNOWN_CRASHES: KnownCrash[] = [];

/**
 * Inputs that used to crash libtorch 1.13 and that the addon now refuses with a JS error
 * (native/ops.cc, "guards"). Kept as documentation; test/fuzz/former-crashes.test.ts runs each
 * repro in a child process and asserts it throws instead of dying.
 */
export const GUARDED_CRASHES: KnownCrash[] = [
  {
    id: 'conv-groups-int32-zero',
    note:
      'aten::conv2d / aten::conv_transpose2d.input with groups a nonzero multiple of 2^32 ' +
      '(e.g. conv2d(x[1,2,4,4], w[1,2,4,4], groups=4294967296) or 2^53): libtorch truncates groups ' +
      'to int32, gets 0 and divides by it: SIGFPE. (groups=2^32+1 silently runs as groups=1.)',
    when: (label, args) => {
      if (label !== 'aten::conv2d' && label !== 'aten::conv_transpose2d.input') return false;
      const g = intArg(args[6]);
      return g !== null && g > 0n && g % TWO32 === 0n;
    },
  },
  {
    id: 'pixel-shuffle-square-overflow',
    note:
      'aten::pixel_shuffle with upscale_factor a multiple of 2^32 (e.g. pixel_shuffle(x[1,2,4,4], ' +
      '4294967296) or 2^53): upscale_factor^2 overflows int64 to 0 and channels % 0 is SIGFPE.',
    when: (label, args) => {
      if (label !== 'aten::pixel_shuffle') return false;
      const r = intArg(args[1]);
      return r !== null && r > 0n && r % TWO32 === 0n;
    },
  },
  {
    id: 'int-division-min-by-minus-one',
    note:
      'integer INT64_MIN (or INT32_MIN) divided by -1: div with rounding_mode trunc/floor ' +
      '(Tensor and Scalar overloads), remainder, fmod, e.g. tensor([-2^63], int64).div(-1, "trunc"): ' +
      'the CPU kernels run the hardware idiv, which traps: SIGFPE.',
    when: (label, args) =>
      /^aten::(div\.(Tensor|Scalar)_mode|remainder\.(Tensor|Scalar)|fmod\.Scalar)$/.test(label) &&
      hasIntMin(args[0]) &&
      hasMinusOne(args[1]),
  },
  {
    id: 'searchsorted-sorter-out-of-range',
    note:
      'aten::searchsorted.Tensor with a sorter holding indices outside [0, len): libtorch 1.13 ' +
      'does not check them and reads sorted_sequence[sorter[i]] out of bounds, e.g. ' +
      'searchsorted([0,1,2], [0.5,3], sorter=[0,1,2^40]): SIGSEGV.',
    when: (label, args) => label === 'aten::searchsorted.Tensor' && isBadIndexTensor(args[5]),
  },
];
