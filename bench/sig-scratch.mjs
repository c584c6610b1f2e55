import { runScale } from './dist/signaling/signaling-suite.js';
const t = performance.now();
const r = await runScale(Number(process.env.N ?? 200), { workers: 2, signals: 10, measureLeave: false });
console.log(JSON.stringify(r), 'total s', ((performance.now() - t) / 1000).toFixed(1));
