import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const python = join(root, '.venv/bin/python');
const decoder = join(root, 'test/conformance/independent_decoder.py');
const vectorsPath = join(root, 'test/vectors/format-v1.json');
const checksumVectorsPath = join(root, 'test/vectors/checksum-v1.json');

type Run = { code: number; stdout: string; stderr: string };

function runDecoder(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(python, [decoder, ...args], { maxBuffer: 16 * 2 ** 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('independent Python decoder (written from docs/FORMAT.md alone)', () => {
  let scratch = '';

  before(async () => {
    assert.ok(
      existsSync(python),
      `${python} is missing: run scripts/install-tools.sh to create the venv with the cryptography package`,
    );
    scratch = await mkdtemp(join(tmpdir(), 'cloudtaser-vectors-'));
  });

  after(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  it('passes every frozen vector', async () => {
    const run = await runDecoder(['vectors', vectorsPath]);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /\d+ checks, 0 failed \(76 object vectors\)/);
  });

  it('passes every frozen vector of the recorded Transit key', async () => {
    const run = await runDecoder(['vectors', join(root, 'test/vectors/format-v1-transit-key.json')]);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /\d+ checks, 0 failed \(8 object vectors\)/);
  });

  type VectorFile = {
    object_vectors: Array<Record<string, unknown>>;
    multipart_vectors: Array<Record<string, unknown>>;
  };

  async function withEdit(edit: (file: VectorFile) => void) {
    const file = JSON.parse(await readFile(vectorsPath, 'utf8'));
    edit(file);
    const path = join(scratch, `edited-${Math.random().toString(16).slice(2)}.json`);
    await writeFile(path, JSON.stringify(file));
    return runDecoder(['vectors', path]);
  }

  function vectorNamed(file: VectorFile, name: string) {
    const vector = [...file.object_vectors, ...file.multipart_vectors].find((v) => v.name === name);
    assert.ok(vector, name);
    return vector;
  }

  it('fails when an expected plaintext hash is wrong, so a pass means something', async () => {
    const run = await withEdit((file) => {
      vectorNamed(file, 'four-segments').plaintext_sha256 = '00'.repeat(32);
    });
    assert.equal(run.code, 1);
    assert.match(run.stdout, /FAIL four-segments/);
  });

  it('fails when an expected error code or released length is wrong', async () => {
    const run = await withEdit((file) => {
      vectorNamed(file, 'truncated-at-segment-boundary').error = 'SEGMENT_AUTH_FAILED';
      vectorNamed(file, 'segment-2-tag-flipped').released_length = 3 * 65536;
    });
    assert.equal(run.code, 1);
    assert.match(
      run.stdout,
      /FAIL truncated-at-segment-boundary: expected SEGMENT_AUTH_FAILED, got TRUNCATED/,
    );
    assert.match(run.stdout, /FAIL segment-2-tag-flipped/);
  });

  it('fails when a tampered vector is declared a success', async () => {
    const run = await withEdit((file) => {
      vectorNamed(file, 'segments-swapped').expect = 'success';
    });
    assert.equal(run.code, 1);
    assert.match(run.stdout, /FAIL segments-swapped: expected success, got payload failure/);
  });

  it('fails when a multipart vector’s part order, binding or located-layout outcome is declared wrongly', async () => {
    const run = await withEdit((file) => {
      vectorNamed(file, 'parts-2-3-swapped').error = 'SEGMENT_AUTH_FAILED';
      vectorNamed(file, 'part-1-binding-changed').layout_error = 'SEGMENT_AUTH_FAILED';
      vectorNamed(file, 'part-2-nonce-changed').layout_error = 'PART_ORDER';
      vectorNamed(file, 'part-2-from-another-upload').expect = 'success';
    });
    assert.equal(run.code, 1);
    assert.match(run.stdout, /FAIL parts-2-3-swapped: expected SEGMENT_AUTH_FAILED, got PART_ORDER/);
    assert.match(run.stdout, /FAIL part-1-binding-changed: locating the parts gave PART_UPLOAD_MISMATCH/);
    assert.match(run.stdout, /FAIL part-2-nonce-changed: locating the parts gave None/);
    assert.match(
      run.stdout,
      /FAIL part-2-from-another-upload: expected success, got payload failure \(PART_UPLOAD_MISMATCH\)/,
    );
  });

  it('passes every frozen vector of the sealed checksum (section 7.1)', async () => {
    const run = await runDecoder(['checksum-vectors', checksumVectorsPath]);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /\d+ checks, 0 failed \(18 checksum vectors\)/);
  });

  it('fails when a checksum vector’s value, outcome or error code is declared wrongly', async () => {
    const file = JSON.parse(await readFile(checksumVectorsPath, 'utf8'));
    const named = (name: string) => file.checksum_vectors.find((v: { name: string }) => v.name === name);
    named('crc32-ascii').checksum = 'CRC32:AAAAAA==';
    named('checksum-tag-flipped').expect = 'success';
    named('checksum-truncated').error = 'CHECKSUM_AUTH_FAILED';
    const path = join(scratch, 'edited-checksums.json');
    await writeFile(path, JSON.stringify(file));
    const run = await runDecoder(['checksum-vectors', path]);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /FAIL crc32-ascii: opened CRC32:\S+, expected CRC32:AAAAAA==/);
    assert.match(
      run.stdout,
      /FAIL checksum-tag-flipped: expected success, got envelope failure \(CHECKSUM_AUTH_FAILED\)/,
    );
    assert.match(
      run.stdout,
      /FAIL checksum-truncated: expected envelope failure CHECKSUM_AUTH_FAILED, got envelope failure ENVELOPE_BAD_FIELD/,
    );
  });

  it('exits 2 with usage when the s3 mode lacks its arguments', async () => {
    const run = await runDecoder(['s3', '--endpoint', 'http://127.0.0.1:1']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /required/);
  });
});
