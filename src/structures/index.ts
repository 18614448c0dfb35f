export * from './batch.ts';
export * from './boxes.ts';
export * from './instances.ts';
