// #region server
// @ts-check
// Runs the video chat on its own port: `node server.js`, with the Colloquy server's address and
// your project's credentials in the environment.

import { createServer } from 'node:http';
import { createVideoChatHandler } from './handler.js';

const { COLLOQUY_URL = 'http://127.0.0.1:3000', COLLOQUY_API_KEY, COLLOQUY_API_SECRET, HOST = '127.0.0.1', PORT = '8080' } = process.env;
if (!COLLOQUY_API_KEY || !COLLOQUY_API_SECRET) {
  console.error('Set COLLOQUY_API_KEY and COLLOQUY_API_SECRET: the project `npm start` printed, or `npx colloquy project list`.');
  process.exit(1);
}

const handler = createVideoChatHandler({ apiKey: COLLOQUY_API_KEY, apiSecret: COLLOQUY_API_SECRET, apiUrl: COLLOQUY_URL });
const server = createServer(handler);
server.listen(Number(PORT), HOST, () => {
  console.log(`Video chat: http://${HOST}:${PORT}/ (Colloquy at ${COLLOQUY_URL})`);
});
// #endregion
