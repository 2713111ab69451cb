/**
 * `p2phd inspect FILE|-`: prints what a tensor file holds as JSON on stdout
 * (kind, version, metadata, and per tensor dtype, shape, bytes, min/max/mean).
 * Works on any safetensors file; kind is null for files not written by p2phd.
 */
import type { Command } from 'commander';
import { action, addCommonOptions } from './common.js';
import { inspectFile } from '../data/files/inspect.js';

export function registerInspect(program: Command): void {
  const command = program.command('inspect')
    .description('print what a tensor file holds, as JSON')
    .argument('<file>', "a safetensors file, or '-' for stdin");
  addCommonOptions(command).action(action<object>(async (_flags, _context, args) => {
    const summary = await inspectFile(args[0]!);
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  }));
}
