// One Yjs peer speaking the y-websocket protocol the way the y-websocket client does:
// sync step 1 and its awareness state on connect, every local update sent at once,
// every awareness change (remote ones included) broadcast, awareness queries answered.
// It keeps no reconnect logic: a benchmark wants to see a dropped connection, not hide it.

import * as Y from 'yjs'
import * as syncProtocol from 'y-protocols/sync'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import WebSocket from 'ws'
import { performance } from 'node:perf_hooks'

const MESSAGE_SYNC = 0
const MESSAGE_AWARENESS = 1
const MESSAGE_AUTH = 2
const MESSAGE_QUERY_AWARENESS = 3

const encodeSync = (write) => {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MESSAGE_SYNC)
  write(encoder)
  return encoding.toUint8Array(encoder)
}

export class Peer {
  /**
   * @param {string} url the room's WebSocket URL
   * @param {{name?: string, color?: string, receive?: boolean, onRemoteTransaction?: (tr: Y.Transaction) => void}} options
   *   receive=false: a send-only peer that ignores what it is sent (seeding a document).
   */
  constructor (url, { name = 'peer', color = '#30bced', receive = true, onRemoteTransaction } = {}) {
    this.url = url
    this.receive = receive
    this.doc = new Y.Doc()
    this.text = this.doc.getText('code')
    this.awareness = new awarenessProtocol.Awareness(this.doc)
    this.awareness.setLocalState({ user: { name, color } })
    this.ws = null
    this.synced = false
    this.closedUnexpectedly = null
    this._onSynced = []
    this.doc.on('update', (update, origin) => {
      if (origin !== this) this.send(encodeSync((e) => syncProtocol.writeUpdate(e, update)))
    })
    this.awareness.on('update', ({ added, updated, removed }) => {
      this.sendAwareness(added.concat(updated, removed))
    })
    if (onRemoteTransaction) {
      this.doc.on('afterTransaction', (tr) => { if (tr.origin === this) onRemoteTransaction(tr) })
    }
  }

  /** Open the socket; resolves once the server's document has been applied (sync step 2). */
  connect () {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, { perMessageDeflate: false })
      this.ws = ws
      let settled = false
      this._onSynced.push(() => { settled = true; resolve() })
      ws.on('open', () => {
        this.send(encodeSync((e) => syncProtocol.writeSyncStep1(e, this.doc)))
        if (this.awareness.getLocalState() !== null) this.sendAwareness([this.doc.clientID])
      })
      ws.on('message', (data) => this._onMessage(data))
      ws.on('error', (error) => { if (!settled) { settled = true; reject(error) } })
      ws.on('close', (code, reason) => {
        if (!this._closing) this.closedUnexpectedly = { code, reason: reason.toString() }
        if (!settled) { settled = true; reject(new Error(`closed before sync: ${code} ${reason}`)) }
      })
    })
  }

  /** Resolves when the server has answered a fresh sync step 1: it has handled all we sent before. */
  roundTrip () {
    this.synced = false
    const done = new Promise((resolve, reject) => {
      this._onSynced.push(resolve)
      this.ws.once('close', (code, reason) => reject(new Error(`closed by the server: ${code} ${reason}`)))
    })
    this.send(encodeSync((e) => syncProtocol.writeSyncStep1(e, this.doc)))
    return done
  }

  send (message) {
    if (this.ws !== null && this.ws.readyState === WebSocket.OPEN) this.ws.send(message)
  }

  sendAwareness (clients) {
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, MESSAGE_AWARENESS)
    encoding.writeVarUint8Array(encoder, awarenessProtocol.encodeAwarenessUpdate(this.awareness, clients))
    this.send(encoding.toUint8Array(encoder))
  }

  _onMessage (data) {
    const decoder = decoding.createDecoder(data)
    const type = decoding.readVarUint(decoder)
    if (type === MESSAGE_SYNC) {
      if (!this.receive && this.synced) return
      // When this message arrived, before this peer spends time applying it.
      this.lastSyncMessageAt = performance.now()
      this.syncBytes = (this.syncBytes || 0) + data.length
      const encoder = encoding.createEncoder()
      encoding.writeVarUint(encoder, MESSAGE_SYNC)
      const syncType = syncProtocol.readSyncMessage(decoder, encoder, this.doc, this)
      if (encoding.length(encoder) > 1) this.send(encoding.toUint8Array(encoder))
      if (syncType === syncProtocol.messageYjsSyncStep2 && !this.synced) {
        this.synced = true
        const waiting = this._onSynced
        this._onSynced = []
        for (const resolve of waiting) resolve()
      }
    } else if (type === MESSAGE_AWARENESS) {
      if (this.receive) awarenessProtocol.applyAwarenessUpdate(this.awareness, decoding.readVarUint8Array(decoder), this)
    } else if (type === MESSAGE_QUERY_AWARENESS) {
      this.sendAwareness(Array.from(this.awareness.getStates().keys()))
    } else if (type === MESSAGE_AUTH) {
      // view-only notice: a benchmark peer always has edit rights, so nothing to do
    }
  }

  close () {
    this._closing = true
    this.awareness.destroy()
    if (this.ws !== null) this.ws.close()
  }
}
