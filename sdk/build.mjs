// Builds sdk/dist/ from sdk/src/ (one source, two formats) and prints sizes and SRI hashes.
// `node build.mjs --check` fails when the committed dist/ differs from a fresh build.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const here = new URL('.', import.meta.url).pathname;
const check = process.argv.includes('--check');
const banner = '/*! personify SDK | Apache-2.0 | built from sdk/src */';
const targets = [
  { entry: 'src/classic.js', out: 'dist/personify.js', format: 'iife' },
  { entry: 'src/module.js', out: 'dist/personify.mjs', format: 'esm' },
];
const LIMIT = 5 * 1024;
let failed = false;
mkdirSync(here + 'dist', { recursive: true });
for (const t of targets) {
  const r = await build({
    entryPoints: [here + t.entry],
    bundle: true,
    minify: true,
    format: t.format,
    target: 'es2020',
    banner: { js: banner },
    write: false,
  });
  const code = r.outputFiles[0].text;
  const gz = gzipSync(code, { level: 9 }).length;
  const sri = 'sha384-' + createHash('sha384').update(code).digest('base64');
  console.log(`${t.out}: ${code.length} B minified, ${gz} B min+gzip, ${sri}`);
  if (gz > LIMIT) {
    console.error(`${t.out} is over ${LIMIT} B min+gzip`);
    failed = true;
  }
  if (check) {
    let committed = '';
    try {
      committed = readFileSync(here + t.out, 'utf8');
    } catch {}
    if (committed !== code) {
      console.error(`${t.out} is stale: run \`npm run build\` in sdk/ and commit it`);
      failed = true;
    }
  } else {
    writeFileSync(here + t.out, code);
  }
}
process.exit(failed ? 1 : 0);
