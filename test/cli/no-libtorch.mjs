// Preloaded into a detkd child (`node --import`) by CLI tests of commands that must answer
// without libtorch (bad flags, -h, --version): loading the native addon exits with 97 and says so.
import process from 'node:process';

const dlopen = process.dlopen;
process.dlopen = function guarded(module, filename, ...rest) {
  if (/detkd_native\.node$/.test(String(filename))) {
    process.stderr.write(`no-libtorch guard: ${filename} was loaded\n`);
    process.exit(97);
  }
  return dlopen.call(this, module, filename, ...rest);
};
