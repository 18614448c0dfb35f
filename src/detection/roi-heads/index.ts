export * from './bbox-head.ts';
export * from './loss.ts';
export * from './postprocess.ts';
export * from './sampling.ts';
