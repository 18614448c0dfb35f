// Module hooks loadRecipe registers (after tsx's, so these run first), for recipes kept outside
// the checkout:
// - `detkd` and `detkd/...` resolve to this checkout through its package.json `exports`, from any
//   folder (no node_modules needed), and so to the very files the CLI runs: one Tensor class, one
//   addon.
// - A .ts file with no `"type"` in its nearest package.json (a recipe in a plain folder) would be
//   CommonJS to Node and tsx: its imports become require() calls into detkd's ES modules, and
//   Node refuses the require() of an ES module that is already on the import stack ("Cannot
//   require() ES Module ... in a cycle"). Recipes are ES modules, so such a file loads as one.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** A file inside this checkout: the parent a self-reference `import 'detkd'` resolves from. */
let selfParent = '';

export function initialize(data) {
  selfParent = data.selfParent;
}

const typeOfDir = new Map();

/** The "type" of the nearest package.json above `dir` ('' when none says). */
function packageType(dir) {
  const hit = typeOfDir.get(dir);
  if (hit !== undefined) return hit;
  let type = '';
  try {
    const t = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).type;
    type = typeof t === 'string' ? t : '';
  } catch {
    const up = dirname(dir);
    type = up === dir ? '' : packageType(up);
  }
  typeOfDir.set(dir, type);
  return type;
}

export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'detkd' || specifier.startsWith('detkd/')) {
    return nextResolve(specifier, { ...context, parentURL: selfParent });
  }
  const r = await nextResolve(specifier, context);
  if (!r.url.startsWith('file:') || r.format === 'module') return r;
  // tsx marks a CommonJS .ts file with query parameters (also inside the path, %3F-encoded).
  const path = fileURLToPath(r.url.split('?')[0]).split('?')[0];
  if (/\.tsx?$/.test(path) && !path.includes('/node_modules/') && packageType(dirname(path)) === '') {
    return { url: pathToFileURL(path).href, format: 'module', shortCircuit: true };
  }
  return r;
}
