/** The render queue: one running, one pending (newest wins), thumbnails only when idle, results cached by key. */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import { RenderQueue } from '../../src/editor/renderQueue';

/** A job whose run resolves when the test says so, recording the order of runs. */
function controlled(log: string[]) {
  const release = new Map<string, (value: string) => void>();
  const job = (key: string) => ({
    key,
    run: () =>
      new Promise<string>((resolve) => {
        log.push(key);
        release.set(key, resolve);
      }),
  });
  const finish = async (key: string): Promise<void> => {
    release.get(key)!(`image of ${key}`);
    // Let the queue settle and start the next job.
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return { job, finish };
}

describe('render queue', () => {
  test('newer requests replace the pending one, which is answered superseded', async () => {
    const log: string[] = [];
    const { job, finish } = controlled(log);
    const queue = new RenderQueue<string>();
    const a = queue.submit(job('a'));
    const b = queue.submit(job('b'));
    const c = queue.submit(job('c'));
    const d = queue.submit(job('d'));
    assert.deepEqual(log, ['a'], 'one pass at a time');
    assert.deepEqual(await b, { superseded: true });
    assert.deepEqual(await c, { superseded: true });
    await finish('a');
    assert.deepEqual(await a, { result: 'image of a', cached: false });
    assert.deepEqual(log, ['a', 'd'], 'the newest waiting state runs next');
    await finish('d');
    assert.deepEqual(await d, { result: 'image of d', cached: false });
    assert.equal(queue.passes, 2);
  });

  test('a state seen before comes from the cache; one that is running is joined', async () => {
    const log: string[] = [];
    const { job, finish } = controlled(log);
    const queue = new RenderQueue<string>();
    const first = queue.submit(job('a'));
    const joined = queue.submit(job('a'));
    await finish('a');
    assert.deepEqual(await first, { result: 'image of a', cached: false });
    assert.deepEqual(await joined, { result: 'image of a', cached: true });
    assert.deepEqual(await queue.submit(job('a')), { result: 'image of a', cached: true });
    assert.deepEqual(log, ['a']);
  });

  test('thumbnails wait while the main lane has work', async () => {
    const log: string[] = [];
    const { job, finish } = controlled(log);
    const queue = new RenderQueue<string>();
    void queue.submit(job('main1'));
    const thumb = queue.submitThumb(job('thumb'));
    void queue.submit(job('main2'));
    await finish('main1');
    assert.deepEqual(log, ['main1', 'main2']);
    await finish('main2');
    assert.deepEqual(log, ['main1', 'main2', 'thumb']);
    await finish('thumb');
    assert.deepEqual(await thumb, { result: 'image of thumb', cached: false });
  });

  test('the cache keeps the most recently used states', async () => {
    const log: string[] = [];
    const { job, finish } = controlled(log);
    const queue = new RenderQueue<string>(2);
    for (const key of ['a', 'b', 'c']) {
      const done = queue.submit(job(key));
      await finish(key);
      await done;
    }
    assert.equal(queue.cached('a'), undefined);
    assert.equal(queue.cached('b'), 'image of b');
    assert.equal(queue.cached('c'), 'image of c');
  });
});
