// One line per subcommand. Keep imports lazy.
import type { Command } from '../main.ts';

export function registerBuiltins(register: (name: string, load: () => Promise<Command>) => void): void {
  void register;
  register('data', async () => (await import('./data.ts')).command);
  register('demo', async () => (await import('./demo.ts')).command);
  register('train', async () => (await import('./train.ts')).command);
  register('distill', async () => (await import('./distill.ts')).command);
  register('compare', async () => (await import('./compare.ts')).command);
  register('eval', async () => (await import('./eval-results.ts')).command);
  register('predict', async () => (await import('./predict.ts')).command);
  register('info', async () => (await import('./info.ts')).command);
  register('convert', async () => (await import('./convert.ts')).command);
}
