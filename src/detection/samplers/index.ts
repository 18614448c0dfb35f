export * from './random-sampler.ts';
