export * from './atss.ts';
export * from './fcos.ts';
export * from './gmm.ts';
export * from './max-iou.ts';
export * from './paa.ts';
export * from './types.ts';
