// detkd nn: modules, layers, init, optimizers, lr schedules.
export * from './activation.ts';
export * from './containers.ts';
export * from './conv.ts';
export * from './init.ts';
export { libmPow } from './libm.ts';
export * from './linear.ts';
export * from './module.ts';
export * from './norm.ts';
export * from './optim/adamw.ts';
export * from './optim/clip-grad.ts';
export * from './optim/lr-schedule.ts';
export * from './optim/optimizer.ts';
export * from './optim/param-groups.ts';
export * from './optim/sgd.ts';
export * from './pooling.ts';
export * from './scale.ts';
