// Preloaded into a detkd command (node --import) by the recipe tests: on exit it prints which
// native addons of detkd's the process opened (process.dlopen sees every .node file loaded), so a
// test can show that a recipe was rejected before libtorch was loaded.
const opened = [];
const dlopen = process.dlopen;
process.dlopen = function (module, filename, ...rest) {
  opened.push(String(filename));
  return dlopen.call(this, module, filename, ...rest);
};
process.on('exit', () => {
  const ours = opened.filter((f) => f.includes('detkd_native'));
  process.stderr.write(`native-probe: ${JSON.stringify(ours)}\n`);
});
