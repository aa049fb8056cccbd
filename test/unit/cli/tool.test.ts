import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBytes, Progress } from '../../../src/cli/progress.ts';
import { splitRanges } from '../../../src/cli/s3-objects.ts';
import { parseByteSize, parseS3Url, sweepOptions, UsageError } from '../../../src/cli/tool.ts';

describe('command-line arguments of the tools', () => {
  it('reads s3://BUCKET[/PREFIX] literally', () => {
    assert.deepEqual(parseS3Url('s3://bucket', 'x'), { bucket: 'bucket', prefix: '' });
    assert.deepEqual(parseS3Url('s3://bucket/', 'x'), { bucket: 'bucket', prefix: '' });
    assert.deepEqual(parseS3Url('s3://bucket/a%20b/c/', 'x'), { bucket: 'bucket', prefix: 'a%20b/c/' });
    for (const bad of ['bucket/key', 's3://', 's3:///key', 'https://bucket/key'])
      assert.throws(() => parseS3Url(bad, 'the location'), UsageError, bad);
  });

  it('reads sizes in bytes with binary suffixes, and refuses anything else', () => {
    assert.equal(parseByteSize('5368709120', 'x'), 5 * 1024 ** 3);
    assert.equal(parseByteSize('5GiB', 'x'), 5 * 1024 ** 3);
    assert.equal(parseByteSize('512M', 'x'), 512 * 1024 ** 2);
    assert.equal(parseByteSize('64k', 'x'), 65536);
    for (const bad of ['', '0', '-1', '1.5GiB', '5 GB', 'lots'])
      assert.throws(() => parseByteSize(bad, '--part-size'), UsageError, bad);
  });

  it('keeps part sizes within what S3 accepts', () => {
    assert.deepEqual(sweepOptions({}), {
      dryRun: false,
      concurrency: 4,
      maxSingleSize: 5 * 1024 ** 3,
      partSize: 512 * 1024 ** 2,
      json: false,
      quiet: false,
    });
    assert.throws(() => sweepOptions({ 'part-size': '4MiB' }), /5MiB/);
    assert.throws(() => sweepOptions({ 'max-single-size': '6GiB' }), /5GiB/);
    assert.throws(() => sweepOptions({ concurrency: '0' }), /1\.\.64/);
  });

  it('cuts a stored size into ranges of at most the part size that cover it exactly', () => {
    assert.deepEqual(splitRanges(10, 4), [
      { start: 0, end: 3 },
      { start: 4, end: 7 },
      { start: 8, end: 9 },
    ]);
    assert.deepEqual(splitRanges(8, 4), [
      { start: 0, end: 3 },
      { start: 4, end: 7 },
    ]);
  });
});

/** Carriage return and erase-line: how the bar is redrawn in place. */
const CLEAR = '\r\x1b[K';

describe('progress of the bucket-wide tools', () => {
  const sink = (isTTY: boolean) => {
    const chunks: string[] = [];
    const stream = Object.assign(
      {
        write(chunk: string) {
          chunks.push(chunk);
          return true;
        },
      },
      { isTTY, columns: 200 },
    ) as unknown as NodeJS.WritableStream & { isTTY?: boolean };
    return { stream, text: () => chunks.join('') };
  };

  it('without a terminal prints notes as lines and a status line at the end', () => {
    const out = sink(false);
    const progress = new Progress({ stream: out.stream, title: 'rewrap', counters: ['rewrapped', 'failed'] });
    progress.listed(2, true);
    progress.count('rewrapped', 2048);
    progress.note('failed s3://b/k: reason');
    progress.count('failed');
    progress.finish();
    assert.equal(
      out.text(),
      'failed s3://b/k: reason\nrewrap: 2/2 objects, 2.0 KiB | rewrapped 1, failed 1\n',
    );
    assert.deepEqual(progress.tally, { rewrapped: 1, failed: 1 });
  });

  it('on a terminal redraws a bar in place, keeps notes above it, and clears it at the end', () => {
    const out = sink(true);
    let now = 0;
    const progress = new Progress({
      stream: out.stream,
      title: 'encrypt-existing',
      counters: ['encrypted'],
      now: () => now,
    });
    progress.listed(4, false);
    assert.match(out.text(), /\[listing…\] encrypt-existing: 0 of 4\+ listed objects/);
    now += 1000;
    progress.listed(4, true);
    now += 1000;
    progress.count('encrypted');
    assert.ok(out.text().includes(`${CLEAR}[######${'.'.repeat(18)}]  25% encrypt-existing: 1/4 objects`));
    progress.detail('encrypted s3://b/k');
    assert.ok(out.text().includes(`${CLEAR}encrypted s3://b/k\n`));
    progress.finish();
    assert.ok(out.text().endsWith(CLEAR));
  });

  it('leaves out the lines of objects that went well with --quiet, never failures', () => {
    const out = sink(false);
    const progress = new Progress({ stream: out.stream, title: 't', counters: ['ok'], quiet: true });
    progress.detail('encrypted s3://b/k');
    progress.note('failed s3://b/j: reason');
    assert.equal(out.text(), 'failed s3://b/j: reason\n');
    progress.finish();
  });

  it('formats byte counts in binary units', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(5 * 1024 ** 3), '5.0 GiB');
  });
});
