import { openImageStore } from '../../../src/image/index.js';

/** A child process that imports one image (the crash and concurrency tests kill it or run two at once): STORE SOURCE NAME. */
const [store, source, name] = process.argv.slice(2);
const r = await openImageStore({ root: store }).import(source, { name });
process.stdout.write(JSON.stringify(r) + '\n');
