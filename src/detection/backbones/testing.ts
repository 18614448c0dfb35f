// Fixture access for the detection model tests (backbones, necks, priors, coders): the tensors and
// JSON written by scripts/fixtures/detection_models_oracle.py (PyTorch 1.13, one thread).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadStateDictFile } from '../../core/serialize.ts';
import { keep, type Tensor } from '../../core/tensor.ts';

export const DETECTION_FIXTURES = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'test',
  'fixtures',
  'detection-models',
);

let oracle: Map<string, Tensor> | null = null;

function tensors(): Map<string, Tensor> {
  if (oracle === null) {
    oracle = loadStateDictFile(join(DETECTION_FIXTURES, 'oracle.safetensors')).tensors;
    for (const t of oracle.values()) keep(t);
  }
  return oracle;
}

/** An oracle tensor (kept for the whole test process). */
export function fx(name: string): Tensor {
  const t = tensors().get(name);
  if (t === undefined) throw new Error(`no detection fixture tensor '${name}'`);
  return t;
}

export function hasFx(name: string): boolean {
  return tensors().has(name);
}

/** Every oracle tensor whose name starts with prefix, prefix stripped. */
export function fxPrefixed(prefix: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [k, t] of tensors()) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), t);
  return out;
}

export interface FpnConfigJson {
  start_level: number;
  num_outs: number;
  add_extra_convs: false | 'on_input' | 'on_lateral' | 'on_output';
  relu_before_extra_convs: boolean;
  norm: boolean;
  params: string[];
  out_shapes: number[][];
}

export interface DetectionOracleJson {
  resnet18_keys: [string, number[]][];
  resnet50_keys: [string, number[]][];
  resnet18_seed: number;
  resnet18_checksums: Record<string, number>;
  fpn: {
    in_channels: number[];
    out_channels: number;
    gn_groups: number;
    configs: Record<string, FpnConfigJson>;
  };
  priors: {
    feat_sizes: [number, number][];
    pad_feat_sizes: [number, number][];
    image_shape: [number, number];
    anchors: Record<
      string,
      {
        strides: number[];
        ratios: number[];
        scales?: number[];
        octave_base_scale?: number;
        scales_per_octave?: number;
        base_sizes?: number[];
        scale_major?: boolean;
        center_offset?: number;
      }
    >;
  };
  coders: {
    delta_means: [number, number, number, number];
    delta_stds: [number, number, number, number];
    max_shape: [number, number];
  };
}

let json: DetectionOracleJson | null = null;

export function fxJson(): DetectionOracleJson {
  if (json === null) json = JSON.parse(readFileSync(join(DETECTION_FIXTURES, 'oracle.json'), 'utf8'));
  return json as DetectionOracleJson;
}
