// detkd train: the generic trainer, its Task/DataSource contract, checkpoints, logging, progress.
export * from './checkpoint.ts';
export * from './log.ts';
export * from './progress.ts';
export * from './task.ts';
export * from './trainer.ts';
