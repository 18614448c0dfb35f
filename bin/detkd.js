#!/usr/bin/env -S node --single-threaded-gc
// The detkd command: runs the TypeScript sources through tsx (which caches what it compiles).
// Always the sources, never dist/: recipes are TypeScript files that import detkd's own modules
// (src/distill/methods/*, ...); were the CLI itself running from dist/, a recipe would load a
// second copy of every module (two Tensor classes, the native addon initialised twice).
// A recipe imports detkd as the package (`from 'detkd'`, see package.json `exports`, which point at
// the same src/ files); hooks.mjs resolves that from any folder and loads recipes as ES modules.
import { register as registerHooks } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { register } = await import('tsx/esm/api');
register();
// Registered after tsx's, so they run first and hand on to tsx.
registerHooks('./hooks.mjs', import.meta.url, {
  data: { selfParent: pathToFileURL(join(root, 'package.json')).href },
});
await import(pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href);
