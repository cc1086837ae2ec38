// The load generator: `node loadgen/main.mjs <config.json>` runs one workload against one
// server and prints its result as one JSON line on stdout (progress goes to stderr).
//
// Modes (config.mode):
//   type  rooms of peers, some of them typing at a fixed rate; measures fan-out latency,
//         delivered updates/s, losses and convergence (config.rooms: WebSocket URLs).
//   idle  connects peers that only keep their presence; prints {"event":"ready"} once all
//         are synced and see each other, then waits for a line on stdin before leaving.
//   seed  writes config.edits edits into one room, one writer after another.
//   join  one newcomer joins a room; measures the time until it is synced.

import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { performance, monitorEventLoopDelay } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import * as Y from 'yjs'
import { Peer } from './peer.mjs'
import { FanOut, percentiles } from './stats.mjs'

const COLORS = ['#30bced', '#6eeb83', '#ffbc42', '#ecd444', '#ee6352', '#9ac2c9', '#8acb88', '#1be7ff']
const log = (...args) => console.error('[loadgen]', ...args)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const sha = (text) => createHash('sha256').update(text).digest('hex')

/** Resolve when `condition()` holds, polling; reject after `timeoutMs`. */
const until = async (condition, timeoutMs, what) => {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

/**
 * Connect peers a few at a time, as users arrive, rather than in one SYN flood; a server
 * that cannot take them all within `timeoutMs` fails the workload.
 */
const connectAll = async (peers, concurrency = 20, timeoutMs = 120_000) => {
  const started = performance.now()
  let next = 0
  const worker = async () => {
    while (next < peers.length) await peers[next++].connect()
  }
  let timer
  const deadline = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`only ${next} of ${peers.length} peers connected within ${timeoutMs / 1000} s`)), timeoutMs)
  })
  await Promise.race([Promise.all(Array.from({ length: Math.min(concurrency, peers.length) }, worker)), deadline])
  clearTimeout(timer)
  return (performance.now() - started) / 1000
}

const makeRooms = (config, options = {}) => config.rooms.map((url, r) =>
  Array.from({ length: config.peersPerRoom }, (_, i) => new Peer(url, {
    name: `r${r}-p${i}`, color: COLORS[i % COLORS.length], ...options
  })))

/** Every peer of every room holds the same text, and so does a newcomer (the server's copy). */
const checkConvergence = async (rooms, urls) => {
  const texts = []
  for (let r = 0; r < rooms.length; r++) {
    const text = rooms[r][0].text.toString()
    if (rooms[r].some((peer) => peer.text.toString() !== text)) return { converged: false, why: `room ${r}: peers differ` }
    const newcomer = new Peer(urls[r], { name: 'verifier' })
    await newcomer.connect()
    const serverText = newcomer.text.toString()
    newcomer.close()
    if (serverText !== text) return { converged: false, why: `room ${r}: the server's copy differs` }
    texts.push(sha(text))
  }
  return { converged: true, roomHashes: texts }
}

const typeWorkload = async (config) => {
  const fanOut = new FanOut()
  const rooms = makeRooms(config, { onRemoteTransaction: (tr) => fanOut.applied(tr) })
  const connectSeconds = await connectAll(rooms.flat())
  // Presence settles before typing starts: everyone sees everyone.
  await until(() => rooms.every((room) => room.every((p) => p.awareness.getStates().size >= room.length)),
    60_000, 'awareness to settle')
  const typists = rooms.flatMap((room) => room.slice(0, config.typistsPerRoom).map((peer) => {
    fanOut.addTypist(peer.doc.clientID, room.length - 1)
    return peer
  }))
  const interval = 1000 / config.rate
  const start = performance.now() + 50
  const end = start + (config.warmup + config.duration) * 1000
  fanOut.measureFrom = start + config.warmup * 1000
  const lag = monitorEventLoopDelay({ resolution: 2 })
  lag.enable()
  const cpuBefore = process.cpuUsage()
  setTimeout(() => console.log(JSON.stringify({ event: 'measuring' })), fanOut.measureFrom - performance.now())
  let keystrokes = 0
  const behind = []
  await Promise.all(typists.map((peer) => new Promise((resolve) => {
    let next = start + Math.random() * interval
    // Each typist types at its own cursor, as people do (not at random places).
    let cursor = Math.floor(Math.random() * (peer.text.length + 1))
    const type = () => {
      const now = performance.now()
      while (next <= now && next < end) {
        behind.push(now - next)
        const clock = Y.getState(peer.doc.store, peer.doc.clientID)
        fanOut.sent(peer.doc.clientID, clock)
        cursor = Math.min(cursor, peer.text.length)
        peer.text.insert(cursor++, String.fromCharCode(97 + clock % 26))
        keystrokes++
        next += interval
      }
      if (next < end) setTimeout(type, Math.max(0, next - performance.now()))
      else resolve()
    }
    setTimeout(type, next - performance.now())
  })))
  const typedFor = (performance.now() - start) / 1000
  console.log(JSON.stringify({ event: 'typed' }))
  const cpu = process.cpuUsage(cpuBefore)
  lag.disable()
  const drainStart = performance.now()
  try {
    await until(() => fanOut.pending === 0, config.drainTimeout * 1000, 'every keystroke to arrive')
  } catch (e) { log(e.message) }
  const drainSeconds = (performance.now() - drainStart) / 1000
  const closed = rooms.flat().filter((p) => p.closedUnexpectedly).map((p) => p.closedUnexpectedly)
  const convergence = fanOut.pending === 0 && closed.length === 0
    ? await checkConvergence(rooms, config.rooms)
    : { converged: false, why: `${fanOut.pending} deliveries missing, ${closed.length} sockets closed` }
  for (const peer of rooms.flat()) peer.close()
  return {
    mode: 'type',
    rooms: rooms.length,
    peersPerRoom: config.peersPerRoom,
    typistsPerRoom: config.typistsPerRoom,
    offeredKeystrokesPerSecond: typists.length * config.rate,
    achievedKeystrokesPerSecond: keystrokes / typedFor,
    keystrokes,
    deliveriesPerSecond: fanOut.deliveries / typedFor,
    deliveries: fanOut.deliveries,
    measuredSeconds: config.duration,
    latencyMs: percentiles(fanOut.latencies),
    lostDeliveries: fanOut.pending,
    closedSockets: closed.slice(0, 5),
    drainSeconds,
    connectSeconds,
    ...convergence,
    generator: {
      cpuPercent: Math.round((cpu.user + cpu.system) / 10 / (typedFor * 1000) * 10) / 10,
      scheduleLagMs: percentiles(behind),
      eventLoopDelayP99Ms: lag.percentile(99) / 1e6
    }
  }
}

const idleWorkload = async (config) => {
  const rooms = makeRooms(config)
  const connectSeconds = await connectAll(rooms.flat())
  await until(() => rooms.every((room) => room.every((p) => p.awareness.getStates().size >= room.length)),
    120_000, 'awareness to settle')
  console.log(JSON.stringify({ event: 'ready', peers: rooms.flat().length, connectSeconds }))
  const input = createInterface({ input: process.stdin })
  await new Promise((resolve) => input.once('line', resolve))
  input.close()
  const closed = rooms.flat().filter((p) => p.closedUnexpectedly).length
  for (const peer of rooms.flat()) peer.close()
  return { mode: 'idle', peers: rooms.flat().length, connectSeconds, closedSockets: closed }
}

/**
 * One edit as people make them: mostly a character typed at the cursor, sometimes a
 * backspace, now and then a jump to another place in the text.
 */
const edit = (text, cursor) => {
  const roll = Math.random()
  if (roll < 0.05 || cursor.at > text.length) cursor.at = Math.floor(Math.random() * (text.length + 1))
  if (roll > 0.88 && cursor.at > 0) {
    text.delete(--cursor.at, 1)
  } else {
    text.insert(cursor.at++, String.fromCharCode(97 + Math.floor(Math.random() * 26)))
  }
}

/**
 * Fill one room with `edits` edits from `writers` writers typing at once, each sending
 * `editsPerMessage` edits per update at `messagesPerSecond` (a fast typist's pace, under
 * any server's flood limit). Writers only send: the expected document is the merge of
 * everything they wrote, computed here.
 */
const seedWorkload = async (config) => {
  const started = performance.now()
  const writers = Array.from({ length: config.writers }, (_, w) => new Peer(config.room, { name: `writer-${w}`, receive: false }))
  await connectAll(writers)
  const messages = Math.ceil(config.edits / config.writers / config.editsPerMessage)
  await Promise.all(writers.map(async (writer) => {
    const cursor = { at: 0 }
    for (let m = 0; m < messages; m++) {
      writer.doc.transact(() => {
        for (let e = 0; e < config.editsPerMessage; e++) edit(writer.text, cursor)
      })
      await sleep(1000 / config.messagesPerSecond)
    }
    await writer.roundTrip()
  }))
  const merged = new Y.Doc()
  for (const writer of writers) Y.applyUpdate(merged, Y.encodeStateAsUpdate(writer.doc))
  for (const writer of writers) writer.close()
  const text = merged.getText('code').toString()
  return { mode: 'seed', edits: messages * config.editsPerMessage * config.writers, messages: messages * config.writers, writers: config.writers, textLength: text.length, textHash: sha(text), seconds: (performance.now() - started) / 1000 }
}

/**
 * One newcomer joins; timed until it holds the whole document. (Some servers answer the
 * sync handshake before their store has loaded the room and send the content after.)
 */
const joinWorkload = async (config) => {
  const started = performance.now()
  const newcomer = new Peer(config.room, { name: 'newcomer' })
  await newcomer.connect()
  const complete = () => newcomer.text.length === config.textLength && sha(newcomer.text.toString()) === config.textHash
  // The server's share ends when the message that completed the document arrived.
  let documentArrivedAt = newcomer.lastSyncMessageAt
  const matches = complete() || await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 30_000)
    newcomer.doc.on('update', () => {
      if (complete()) {
        documentArrivedAt = newcomer.lastSyncMessageAt
        clearTimeout(timer)
        resolve(true)
      }
    })
  })
  const seconds = (performance.now() - started) / 1000
  newcomer.close()
  return {
    mode: 'join',
    syncedMs: seconds * 1000,
    documentArrivedMs: documentArrivedAt - started,
    documentBytes: newcomer.syncBytes,
    textLength: newcomer.text.length,
    matches
  }
}

const MODES = { type: typeWorkload, idle: idleWorkload, seed: seedWorkload, join: joinWorkload }

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const run = MODES[config.mode]
if (run === undefined) throw new Error(`unknown mode ${config.mode}`)
try {
  const result = await run({ drainTimeout: 10, warmup: 1, ...config })
  console.log(JSON.stringify({ event: 'result', ...result }))
  process.exit(0)
} catch (error) {
  console.log(JSON.stringify({ event: 'error', message: error.message }))
  process.exit(1)
}
