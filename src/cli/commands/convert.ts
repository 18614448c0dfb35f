// `detkd convert IN.pth --from torchvision|mmdet --recipe R --out OUT.safetensors`: a PyTorch
// checkpoint (read without running anything it contains: src/interop/pth.ts) mapped onto the
// recipe's detector (src/app/weights/mapping.ts, strict) and written as a detkd model file, the
// same kind `detkd train` writes as model_final, which `detkd eval --recipe R --checkpoint OUT`,
// `detkd predict` and a distillation recipe's teacher load like any other.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  checkClasses,
  checkpointClasses,
  describeReport,
  recipeCategories,
} from '../../app/checkpoint-load.ts';
import { loadRecipe } from '../../app/recipe.ts';
import { mapWeights, mmdetConventions, type WeightFormat } from '../../app/weights/mapping.ts';
import { DetkdError } from '../../core/errors.ts';
import { dispose, type Tensor } from '../../core/tensor.ts';
import { buildDetector } from '../../detection/models/build.ts';
import { readPth } from '../../interop/pth.ts';
import { type JsonValue, writeModel } from '../../train/checkpoint.ts';
import { parseVerbArgs } from '../args.ts';
import type { Command } from '../main.ts';
import { VERBS } from '../verbs.ts';

export const command: Command = {
  async run(argv) {
    const { values, positionals, help } = parseVerbArgs(VERBS.convert, argv);
    if (help) {
      console.log(VERBS.convert.usage);
      return 0;
    }
    const input = positionals[0]!;
    const format = values.from as WeightFormat;
    if (!/\.safetensors$/i.test(values.out)) {
      throw new DetkdError(
        `convert: --out ${values.out} must end in .safetensors (detkd writes safetensors)`,
      );
    }
    const recipe = await loadRecipe(values.recipe);
    const det = buildDetector(recipe.model);
    let source: Map<string, Tensor> | null = null;
    let mapped: Map<string, Tensor> | null = null;
    try {
      const pth = readPth(input);
      source = pth.tensors;
      const fileClasses = checkpointClasses(pth.meta);
      if (fileClasses !== null) {
        const { categories } = await recipeCategories(recipe, (s) => console.error(s));
        checkClasses(
          input,
          fileClasses,
          categories.categories.map((c) => c.name),
          recipe.name,
        );
      }
      const { stateDict, report } = mapWeights(det, source, format, {
        what: input,
        ...(format === 'mmdet' ? mmdetConventions(pth.meta) : {}),
      });
      mapped = stateDict;
      det.loadStateDict(stateDict, { strict: false });
      console.log(`detkd convert: ${input} (${format} layout, ${pth.layout} checkpoint) -> ${recipe.name}`);
      for (const line of [...pth.notes, ...describeReport(report)]) console.log(`  ${line}`);
      mkdirSync(dirname(values.out), { recursive: true });
      writeModel(
        values.out,
        det,
        { convertedFrom: input, format, loaded: report.loaded },
        JSON.parse(JSON.stringify(recipe)) as JsonValue,
      );
      console.log(`wrote ${values.out} (load it with --recipe ${values.recipe} --checkpoint ${values.out})`);
    } finally {
      dispose([...new Set([...(mapped?.values() ?? []), ...(source?.values() ?? [])])]);
      det.dispose();
    }
    return 0;
  },
};
