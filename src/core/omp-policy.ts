// libtorch's intra-op threads are libgomp threads. A libgomp worker that finishes its share of a
// parallel region spins before it sleeps (GOMP_SPINCOUNT, 300,000 by default); with two trainings
// on a 2-core machine that spinning takes the core the other process needs, and both slow down
// far more than twice (bench/contention measures it). libgomp reads its environment once, when
// it is loaded, so this module sets the policy before src/core/native.ts loads the addon. A
// user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
//
// PASSIVE (workers sleep at once) was chosen by measurement (bench/contention, ResNet-18 step, 2
// threads each, median of 3 rounds): two detkd runs at once took 1.92x their solo step (2,679 ms
// each, 5.4x, under libgomp's default spin), and the solo step moved by +2.2%, inside this
// machine's run-to-run noise. Shorter spins (GOMP_SPINCOUNT 1,000 / 10,000) sat between the two.
export const DEFAULT_OMP_ENV: Readonly<Record<string, string>> = { OMP_WAIT_POLICY: 'PASSIVE' };

if (process.env.OMP_WAIT_POLICY === undefined && process.env.GOMP_SPINCOUNT === undefined) {
  for (const [k, v] of Object.entries(DEFAULT_OMP_ENV)) process.env[k] = v;
}
