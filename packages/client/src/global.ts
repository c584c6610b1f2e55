// Entry point of the script-tag bundle (dist/opentok.js): the OT global, as OpenTok.js defines it.

import { OT } from './ot.js';

(globalThis as { OT?: unknown }).OT = OT;
