/**
 * `p2phd doctor [--json]`: which compute backends load here and why not,
 * the WebGPU adapter and its limits, and what `--backend auto` would pick
 * for training and inference (backend/doctor.ts). Always exits 0.
 */
import type { Command } from 'commander';
import { action, addCommonOptions } from './common.js';

export function registerDoctor(program: Command): void {
  const command = program.command('doctor').description('report which compute backends load on this machine, and what --backend auto picks');
  addCommonOptions(command).action(
    action<object>(async (_flags, context) => {
      const { diagnose, formatDoctorReport } = await import('../backend/doctor.js');
      const report = await diagnose();
      if (context.common.json) context.emitJson(report);
      else process.stdout.write(`${formatDoctorReport(report).join('\n')}\n`);
    }),
  );
}
