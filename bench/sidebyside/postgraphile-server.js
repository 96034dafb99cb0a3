'use strict';
// PostGraphile 4 used as a library, the way a deployment embeds it, for
// bench/sidebyside/run.sh. One process per variant:
//
//   BENCH_MODE=plain  schema bench: no auth, no row-level security
//   BENCH_MODE=rls    schema bench_rls: every request switches to a
//                     non-owner role and sets app.account_id from the
//                     X-Account-ID header (pgSettings), which PostGraphile
//                     does in a transaction of its own per request, as a
//                     multi-tenant PostGraphile user runs it
//
// Options follow PostGraphile's production advice (no GraphiQL, no query
// log, no watch mode), so neither side pays for per-request logging.
// Environment: DATABASE_URL, PORT, BENCH_MODE, BENCH_PG_POOL (pool size,
// the same as Switchboard's DATABASE_MAX_CONNS), BENCH_RLS_ROLE.
// Modules come from NODE_PATH (run.sh installs them under .data/bench).

const http = require('http');
const { Pool } = require('pg');
const { postgraphile } = require('postgraphile');

const mode = process.env.BENCH_MODE;
if (mode !== 'plain' && mode !== 'rls') {
  console.error('BENCH_MODE must be plain or rls');
  process.exit(2);
}
const port = Number(process.env.PORT);
const pool = new Pool({
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.BENCH_PG_POOL || 20),
  // Keep idle connections as Switchboard's pool does (5 minutes): pg's
  // default (10 s) would close them between runs, and every run would
  // then pay for new backends.
  idleTimeoutMillis: 5 * 60 * 1000,
});
pool.on('error', (err) => console.error('pool error:', err.message));

const options = {
  graphiql: false,
  disableQueryLog: true,
  watchPg: false,
  dynamicJson: true,
  setofFunctionsContainNulls: false,
  ignoreRBAC: false,
  legacyRelations: 'omit',
  extendedErrors: ['errcode'],
};
if (mode === 'rls') {
  const role = process.env.BENCH_RLS_ROLE;
  options.pgSettings = (req) => ({ role, 'app.account_id': req.headers['x-account-id'] });
}

const server = http.createServer(postgraphile(pool, mode === 'rls' ? 'bench_rls' : 'bench', options));
server.keepAliveTimeout = 65000;
server.listen(port, '127.0.0.1', () => console.log(`postgraphile ${mode} listening on 127.0.0.1:${port}`));

// run.sh stops us with SIGTERM.
process.on('SIGTERM', () => {
  server.close();
  pool.end().finally(() => process.exit(0));
});
