import { DEFAULT_POOL, SLOT, SlotMap, chooseRange, seededRandom, homeStart, reservedSet } from './dist/src/alloc/index.js';
const blocked = SlotMap.of(reservedSet());
const r = seededRandom(1);
for (let i = 0; i < 25000; i++) { const c = chooseRange('x' + i, SLOT, { pool: DEFAULT_POOL, blocked }, r); blocked.block(c.start, c.end); }
let t = performance.now();
for (let i = 0; i < 2000; i++) blocked.freeRuns(DEFAULT_POOL, SLOT);
console.log('freeRuns us', (performance.now() - t) * 1000 / 2000);
t = performance.now();
for (let i = 0; i < 2000; i++) homeStart('n' + i, DEFAULT_POOL, SLOT);
console.log('homeStart us', (performance.now() - t) * 1000 / 2000);
t = performance.now();
for (let i = 0; i < 2000; i++) chooseRange('y' + i, SLOT, { pool: DEFAULT_POOL, blocked }, r);
console.log('choose us', (performance.now() - t) * 1000 / 2000);
