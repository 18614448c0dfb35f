// Every recipe under recipes/ loads and passes its schema (a distillation recipe with its
// teacher's recipe). The distillation recipes import the method factories, so this file loads
// libtorch; the checks that must not are in schema.test.ts and cli.test.ts.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isDistillRecipe } from '../../src/app/distill-recipe.ts';
import { loadRecipe } from '../../src/app/recipe.ts';

const RECIPES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'recipes');

test('every recipe in recipes/ loads and validates', async () => {
  const files = readdirSync(RECIPES)
    .filter((f) => f.endsWith('.ts'))
    .sort();
  assert.ok(files.length >= 12, `only ${files.length} recipes`);
  const distill: string[] = [];
  for (const f of files) {
    const r = await loadRecipe(join(RECIPES, f));
    assert.equal(`${r.name}.ts`, f);
    if (isDistillRecipe(r)) distill.push(r.name);
  }
  // The demo's methods are distillation recipes; the others train one detector.
  assert.deepEqual(
    files.filter((f) => !distill.includes(f.slice(0, -3))),
    [
      'demo-frcnn-student.ts',
      'demo-frcnn-teacher.ts',
      'demo-student-paa.ts',
      'demo-student.ts',
      'demo-teacher.ts',
      'tiny-frcnn.ts',
      'tiny.ts',
    ],
  );
});
