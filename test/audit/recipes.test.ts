/**
 * The recipes users follow (examples/): each model synthesizes at the scale it
 * trained at. The 512p G1 trains on LOAD_512-wide samples, so its test maps
 * (2048x1024 in Cityscapes) are resized to that width; the 1024p model takes
 * them whole. Run as dry runs: make -n, and the SLURM script with a stand-in npx.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, temporaryFolder } from '../support/cli.js';

/** The synthesize command of a make target's dry run, joined onto one line. */
function synthesizeCommand(target: string, variables: string[] = []): string {
  const result = spawnSync('make', ['-n', '-f', join(REPO_ROOT, 'examples', 'Makefile'), 'WORK=/nonexistent/work', 'P2PHD=p2phd', ...variables, target], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  const command = result.stdout.replace(/\\\n\s*/g, ' ').split('\n').find((line) => line.startsWith('p2phd synthesize'));
  assert.ok(command, result.stdout);
  return command;
}

describe('recipes synthesize at the training scale', () => {
  test('examples/Makefile: results_512p resizes to LOAD_512, results_1024p does not resize', () => {
    assert.match(synthesizeCommand('results_512p'), /--checkpoint \S*512p_feat .*--load-size 1024 /);
    assert.match(synthesizeCommand('results_512p', ['LOAD_512=128']), /--load-size 128 /);
    assert.doesNotMatch(synthesizeCommand('results_1024p'), /--load-size/);
  });

  test('examples/slurm/synthesize-array.sh passes the flags after OUT (its 512p example: --load-size 1024) to p2phd', () => {
    const stub = temporaryFolder('recipes');
    try {
      const npx = join(stub.path, 'npx');
      writeFileSync(npx, '#!/bin/sh\nprintf "%s\\n" "$@"\n');
      chmodSync(npx, 0o755);
      const result = spawnSync('bash', [join(REPO_ROOT, 'examples', 'slurm', 'synthesize-array.sh'), 'runs/512p_feat', 'l/*.png', 'i/*.png', 'results/', '--load-size', '1024'], {
        encoding: 'utf8',
        env: { ...process.env, PATH: `${stub.path}:${process.env['PATH']}`, SLURM_ARRAY_TASK_ID: '1', SLURM_ARRAY_TASK_COUNT: '4' },
      });
      assert.equal(result.status, 0, result.stderr);
      const args = result.stdout.trim().split('\n');
      assert.deepEqual(args.slice(0, 2), ['p2phd', 'synthesize']);
      assert.equal(args[args.indexOf('--load-size') + 1], '1024');
      assert.equal(args[args.indexOf('--shard') + 1], '1/4');
      assert.equal(args[args.indexOf('--out') + 1], 'results/');
    } finally {
      stub.remove();
    }
  });
});
