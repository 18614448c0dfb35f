#!/usr/bin/env -S node --single-threaded-gc
// The detkd command: runs the TypeScript sources through tsx (which caches what it compiles).
// Always the sources, never dist/: recipes are TypeScript files that import detkd's own modules
// (src/distill/methods/*, ...); were the CLI itself running from dist/, a recipe would load a
// second copy of every module (two Tensor classes, the native addon initialised twice).
// A recipe imports detkd as the package (`from 'detkd'`, see package.json `exports`, which point at
// the same src/ files); loadRecipe registers src/app/recipe-hooks.mjs, which resolves that from
// any folder and loads recipes as ES modules.
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { register } = await import('tsx/esm/api');
register();
await import(pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href);
