#!/usr/bin/env node
// Builds the native addon with node-gyp against the local Node headers (there is no header
// download here), after checking that the generated op table matches the linked libtorch.
import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { torchConfig } from './torch-config.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cfg = torchConfig();
console.log(`native: libtorch ${cfg.root ?? '(Debian libtorch-dev)'}, ABI=${cfg.abi}, cuda=${cfg.cuda}`);
// Regenerates the op table when the linked libtorch's schemas differ: the change then shows in git.
execFileSync(process.execPath, [join(root, 'scripts', 'gen-ops.mjs')], { stdio: 'inherit' });
const nodedir = process.env.DETKD_NODEDIR ?? join(dirname(process.execPath), '..');
const gyp = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const jobs = process.env.DETKD_BUILD_JOBS ?? '2';
const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '-j', jobs], {
  cwd: join(root, 'native'),
  stdio: 'inherit',
  env: { ...process.env, npm_config_nodedir: nodedir },
});
process.exit(r.status ?? 1);
