// A recipe's `distill` section against its schema, without libtorch: the teacher may be left out
// (a method without one), typos name the nearest key, the functions must be functions; a run that
// needs the missing teacher says which recipe lacks it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DetkdError } from '../core/errors.ts';
import { parseStrict } from '../core/schema.ts';
import { type DistillRecipe, distillSectionSchema, teacherOf } from './distill-recipe.ts';
import type { DetectionRecipe } from './recipe.ts';

const teacherRecipe = { name: 'teacher' } as DetectionRecipe;

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DetkdError, `a DetkdError, got ${String(e)}`);
    return e.message;
  }
  assert.fail('expected an error');
}

test('the distill section: teacher optional, strict keys, functions checked', () => {
  const terms = () => [];
  const full = parseStrict(
    distillSectionSchema,
    { teacher: { recipe: teacherRecipe, checkpoint: 't.safetensors' }, terms, inherit: true },
    'r.ts',
  );
  assert.equal(full.teacher?.recipe, teacherRecipe);
  assert.equal(full.terms, terms);
  assert.deepEqual(Object.keys(parseStrict(distillSectionSchema, { terms }, 'r.ts')), ['terms']);

  assert.equal(
    message(() => parseStrict(distillSectionSchema, { terms, inherti: true }, 'r.ts')),
    "r.ts: unknown key 'inherti' (did you mean 'inherit'?)",
  );
  assert.equal(
    message(() =>
      parseStrict(
        distillSectionSchema,
        { teacher: { recipe: teacherRecipe, checkpiont: 'x' }, terms },
        'r.ts',
      ),
    ),
    "r.ts: unknown key 'teacher.checkpiont' (did you mean 'teacher.checkpoint'?)",
  );
  assert.equal(
    message(() => parseStrict(distillSectionSchema, { terms: [] }, 'r.ts')),
    "r.ts: 'terms': must be a function of the student/teacher pair returning the terms, e.g. (p) => [ld(p)]",
  );
});

test('teacherOf names the recipe without a teacher', () => {
  const r = { name: 'lonely', distill: { terms: () => [] } } as unknown as DistillRecipe;
  assert.equal(
    message(() => teacherOf(r)),
    "recipe 'lonely': distill.teacher is missing; every method in detkd so far distils from a teacher ({ recipe, checkpoint })",
  );
});
