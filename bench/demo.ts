/**
 * Demo benchmark: `p2phd demo` end to end in a child process, as a user runs
 * it from a fresh clone (issue 15's target: at most 180 s on 2 cores), with
 * the wall time of each of its stages, from the `== demo k/8` lines it logs.
 *
 *   npm run bench -- demo [--json]
 *
 * Not among the default stages: it takes minutes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchArgs, BenchRow, StageResult } from './run.js';

/** One stage of the demo's log: its title and when its header line arrived. */
interface StageMark {
  title: string;
  at: number;
}

export async function runBench(args: BenchArgs): Promise<StageResult> {
  const out = mkdtempSync(join(tmpdir(), 'p2phd-bench-demo-'));
  const bin = join(__dirname, '..', '..', 'bin', 'p2phd');
  const marks: StageMark[] = [];
  const started = Date.now();
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [bin, 'demo', '--out', join(out, 'demo')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let pending = '';
      const onText = (chunk: Buffer): void => {
        pending += chunk.toString('utf8');
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          const header = /^== demo (\d+)\/(\d+): p2phd (\S+(?: \S+)?)/.exec(line);
          if (header) {
            marks.push({ title: `${header[1]}/${header[2]} ${header[3]!.replace(/ --.*$/, '')}`, at: Date.now() });
            args.progress(`demo bench: ${line.slice(0, 100)}`);
          }
        }
      };
      child.stdout.on('data', onText);
      child.stderr.on('data', onText);
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        if (code === 0) resolve();
        else reject(new Error(`p2phd demo exited with ${code ?? signal}`));
      });
    });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  const ended = Date.now();
  const rows: BenchRow[] = marks.map((mark, k) => ({
    stage: mark.title,
    seconds: Number((((marks[k + 1]?.at ?? ended) - mark.at) / 1000).toFixed(1)),
  }));
  rows.push({ stage: 'total', seconds: Number(((ended - started) / 1000).toFixed(1)) });
  return {
    stage: 'demo',
    notes: [`p2phd demo from this checkout, wall seconds per stage; ${cpus().length} CPU(s); load average at start ${load}; target (issue 15): total <= 180 s on 2 cores`],
    rows,
  };
}
