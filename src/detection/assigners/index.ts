export * from './atss.ts';
export * from './fcos.ts';
export * from './max-iou.ts';
export * from './types.ts';
