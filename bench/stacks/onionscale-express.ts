/** onionscale on Express 5: `requestPipeline` (session + circuit limit in one EVALSHA) and the two-tier cache. */
import express from 'express';
import { requestPipeline } from '../../src/adapters/express.js';
import { USER_ID, announceReady, renderPage, stackEnv } from './_contract.js';
import { onionscaleKit } from './_onionscale.js';

const env = stackEnv();
const kit = await onionscaleKit(env);
const app = express();
app.disable('x-powered-by');
app.use(requestPipeline(kit.pipeline));
app.post('/login', (req, res) => {
  req.session.regenerate().set('userId', USER_ID);
  res.json({ ok: true });
});
app.get('/page', async (req, res) => {
  const userId = req.session.userId;
  if (userId === undefined) return void res.status(401).type('text').send('log in first');
  res.type('html').send(renderPage(userId, await kit.query()));
});
const server = app.listen(env.port, '127.0.0.1', () =>
  announceReady(async () => {
    await new Promise((r) => server.close(r));
    await kit.close();
  }),
);
