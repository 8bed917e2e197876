// nightshift's per-test results, inside the sandbox. Loaded into every Node.js process of a test run
// with NODE_OPTIONS=--require; it does nothing unless the process is a test runner it knows, and then
// only adds the runner's own machine-readable reporter, writing into $NIGHTSHIFT_RESULTS_DIR. It never
// changes the repository's files, and it stays plain CommonJS so that any Node.js version loads it.
'use strict';
const fs = require('node:fs');

const dir = process.env.NIGHTSHIFT_RESULTS_DIR;
let main = '';
try {
  main = fs.realpathSync(process.argv[1] || '');
} catch {}
const injected = dir && process.argv.some((a) => a.includes(dir));
const out = (runner, ext) => `${dir}/${runner}-${process.pid}.${ext}`;

/** Drops every occurrence of an option (`--x v`, `--x=v`, and its short alias) from the arguments. */
function drop(names) {
  const args = process.argv;
  for (let i = 2; i < args.length; ) {
    const a = args[i];
    if (names.includes(a)) args.splice(i, 2);
    else if (names.some((n) => a.startsWith(`${n}=`))) args.splice(i, 1);
    else i++;
  }
}

if (dir && !injected) {
  if (/[/\\]vitest[/\\]vitest\.mjs$/.test(main)) {
    process.argv.push('--reporter=default', '--reporter=json', `--outputFile.json=${out('vitest', 'json')}`);
  } else if (/[/\\]jest(-cli)?[/\\]bin[/\\]jest\.js$/.test(main)) {
    drop(['--json', '--outputFile']);
    process.argv.push('--json', `--outputFile=${out('jest', 'json')}`);
  } else if (/[/\\]mocha[/\\](bin[/\\]_?mocha(\.js)?|lib[/\\]cli[/\\]cli\.js)$/.test(main)) {
    drop(['--reporter', '-R', '--reporter-option', '--reporter-options', '-O']);
    process.argv.push('--reporter=json', `--reporter-option=output=${out('mocha', 'json')}`);
  } else if (/[/\\]ava[/\\](entrypoints[/\\]cli\.mjs|cli\.js)$/.test(main)) {
    drop(['--tap', '-t']);
    process.argv.push('--tap');
    const file = out('ava', 'tap');
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = function (chunk, ...rest) {
      try {
        fs.appendFileSync(file, chunk);
      } catch {}
      return write(chunk, ...rest);
    };
  }
}
