/**
 * What an npm install ships and runs: the docs the CLI's help points to are in
 * the package, and onnxruntime-node's install script (which downloads the
 * CUDA provider on Linux x64) is denied by package.json's allowScripts, not
 * by an .npmrc key npm does not know (it warns on every npm and npx call).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, runCliSync } from '../support/cli.js';

interface PackageJson {
  files: string[];
  allowScripts?: Record<string, boolean>;
}

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as PackageJson;

/** Whether `path` (relative to the root) is inside one of package.json's "files" entries. */
function shipped(path: string): boolean {
  return pkg.files.some((entry) => path === entry || path.startsWith(`${entry}/`));
}

describe('the npm package', () => {
  test('train --help points to docs that exist and ship with the package', () => {
    const help = runCliSync(['train', 'global', '--help']);
    assert.equal(help.status, 0, help.stderr);
    const more = /More: (.*)$/m.exec(help.stdout);
    assert.ok(more, help.stdout);
    const named = [...more[1]!.matchAll(/\b((?:docs|src)\/[\w./-]+\.md)\b/g)].map((match) => match[1]!);
    assert.ok(named.length > 0, more[0]);
    for (const path of named) {
      assert.ok(existsSync(join(REPO_ROOT, path)), `${path} does not exist`);
      assert.ok(shipped(path), `${path} is not in package.json "files"`);
    }
  });

  test("onnxruntime-node's install script is denied in package.json, and .npmrc holds no key npm does not know", () => {
    assert.equal(pkg.allowScripts?.['onnxruntime-node'], false);
    const npmrc = join(REPO_ROOT, '.npmrc');
    if (existsSync(npmrc)) assert.doesNotMatch(readFileSync(npmrc, 'utf8'), /onnxruntime-node-install/);
  });
});
