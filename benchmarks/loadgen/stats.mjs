// Fan-out latency bookkeeping: a keystroke counts as delivered once every other peer
// of its room has applied it; its latency is the time from the typist's insert until then.
// All peers live in this one process, so one monotonic clock times both ends.

import { performance } from 'node:perf_hooks'

export class FanOut {
  constructor () {
    this.typists = new Map() // clientID -> { sentAt: number[], remaining: number[], receivers }
    this.latencies = []
    this.measureFrom = Infinity
    this.deliveries = 0
    this.pending = 0
  }

  addTypist (clientID, receivers) {
    this.typists.set(clientID, { sentAt: [], remaining: [], receivers })
  }

  /** The typist is about to insert one character: its clock `clock` is that keystroke. */
  sent (clientID, clock) {
    const typist = this.typists.get(clientID)
    typist.sentAt[clock] = performance.now()
    typist.remaining[clock] = typist.receivers
    this.pending += typist.receivers
  }

  /** A peer applied a remote transaction: count the keystrokes it brought. */
  applied (transaction) {
    const now = performance.now()
    for (const [clientID, after] of transaction.afterState) {
      const typist = this.typists.get(clientID)
      if (typist === undefined) continue
      const before = transaction.beforeState.get(clientID) || 0
      for (let clock = before; clock < after; clock++) {
        if (typist.remaining[clock] === undefined) continue
        this.deliveries++
        this.pending--
        if (--typist.remaining[clock] === 0 && typist.sentAt[clock] >= this.measureFrom) {
          this.latencies.push(now - typist.sentAt[clock])
        }
      }
    }
  }
}

export const percentiles = (values) => {
  if (values.length === 0) return { count: 0, p50: null, p95: null, p99: null, max: null, mean: null }
  const sorted = Float64Array.from(values).sort()
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
  const round = (x) => Math.round(x * 1000) / 1000
  let sum = 0
  for (const v of sorted) sum += v
  return {
    count: sorted.length,
    p50: round(at(0.5)),
    p95: round(at(0.95)),
    p99: round(at(0.99)),
    max: round(sorted[sorted.length - 1]),
    mean: round(sum / sorted.length)
  }
}
