// The baseline for `pnpm bench:api`: a bare Fastify route in a process of its own, like the API's.
import Fastify from 'fastify';

const app = Fastify();
app.get('/bare', () => ({ ok: true }));
await app.listen({ port: Number(process.env.API_PORT), host: '127.0.0.1' });
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
