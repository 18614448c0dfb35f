#!/usr/bin/env -S node --single-threaded-gc
// The detkd command. Runs the compiled CLI from dist/ when it is built, else the TypeScript
// sources. tsx is registered either way: recipes are TypeScript files the CLI imports at run time.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { register } = await import('tsx/esm/api');
register();
const built = join(root, 'dist', 'src', 'cli', 'main.js');
if (existsSync(built) && !process.env.DETKD_FROM_SOURCE) {
  await import(pathToFileURL(built).href);
} else {
  await import(pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href);
}
