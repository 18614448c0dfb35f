export * from './cross-entropy.ts';
export * from './focal.ts';
export * from './gfocal.ts';
export * from './iou.ts';
export * from './reduce.ts';
export * from './smooth-l1.ts';
