#!/usr/bin/env node
// Where libtorch is and how to build against it. Default: Debian's libtorch-dev. With
// LIBTORCH=/path (a libtorch zip or a PyTorch wheel's torch/ folder), that one is used instead,
// CUDA builds included. Reads the ABI flag from the libtorch's own TorchConfig.cmake rather
// than assuming one.
//   node scripts/torch-config.mjs json|includes|cflags|libs
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function torchConfig(env = process.env) {
  const root = env.LIBTORCH;
  let includes;
  let libDir;
  let cmake;
  if (root) {
    includes = [join(root, 'include'), join(root, 'include', 'torch', 'csrc', 'api', 'include')];
    libDir = join(root, 'lib');
    cmake = join(root, 'share', 'cmake', 'Torch', 'TorchConfig.cmake');
    if (!existsSync(join(includes[0], 'ATen', 'ATen.h'))) {
      throw new Error(`LIBTORCH=${root}: no include/ATen/ATen.h there; point it at a libtorch folder`);
    }
  } else {
    includes = ['/usr/include'];
    libDir = '/usr/lib/x86_64-linux-gnu';
    cmake = join(libDir, 'cmake', 'Torch', 'TorchConfig.cmake');
    if (!existsSync('/usr/include/ATen/ATen.h')) {
      throw new Error(
        "libtorch headers not found: install Debian's libtorch-dev (make does) or set LIBTORCH=/path",
      );
    }
  }
  let abi = null;
  if (existsSync(cmake)) {
    const m = /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(readFileSync(cmake, 'utf8'));
    if (m) abi = m[1];
  }
  if (abi === null) abi = '1';
  const cuda = existsSync(join(libDir, 'libtorch_cuda.so'));
  const libs = [`-L${libDir}`, `-Wl,-rpath,${libDir}`];
  // --no-as-needed: nothing references libtorch_cuda's symbols directly, and without it the
  // linker drops the library and CUDA kernels are silently never registered.
  if (cuda) libs.push('-Wl,--no-as-needed', '-ltorch_cuda', '-lc10_cuda', '-Wl,--as-needed');
  libs.push('-ltorch_cpu', '-lc10', '-ldl');
  return { root: root ?? null, includes, libDir, abi, cuda, libs };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const cfg = torchConfig();
  const what = process.argv[2] ?? 'json';
  if (what === 'json') console.log(JSON.stringify(cfg, null, 2));
  else if (what === 'includes') console.log(cfg.includes.join(' '));
  else if (what === 'cflags')
    console.log(`-D_GLIBCXX_USE_CXX11_ABI=${cfg.abi}${cfg.cuda ? ' -DDETKD_WITH_CUDA=1' : ''}`);
  else if (what === 'libs') console.log(cfg.libs.join(' '));
  else throw new Error(`unknown query ${what}`);
}
