#!/usr/bin/env node
// An example client of the openagi-nb replay server in JavaScript (Node 20 or later, npm `ws` 8).
// It asks for "json" batches when the server offers them (docs/protocol.md section 14) and
// follows its channels across cut connections without losing or repeating an event (section 11).
//
//   npm install ws@8
//   node batch_client.js http://127.0.0.1:8080 security_events,network_events 100
//
// stdout: each event as one JSON line, until <count> events; then it closes and exits 0.
// stderr: what happens to the connections (batches or not, closes, reconnects), then a summary.
'use strict';
const WebSocket = require('ws');

const [root, channelList, countArg] = process.argv.slice(2);
if (!root || !channelList || !(Number(countArg) > 0)) {
  console.error('usage: node batch_client.js <server-url> <channel,channel...> <count>');
  process.exit(64);
}
const channels = channelList.split(',');
const wanted = Number(countArg);

// Kept across connections: per channel, the last seq accepted (section 11.1).
const lastSeq = {};
let printed = 0, duplicates = 0, frames = 0, batches = 0, connections = 0;
let done = false;
let backoff = 0.1; // seconds: doubled after each connection that brought nothing, at most 10
const log = (line) => process.stderr.write(`${line}\n`);

async function getJson(path, init) {
  const response = await fetch(new URL(path, root), init);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

// Does the server offer "json" batches? A server without `features.batch` in its status, or
// without a status endpoint (a node of the network), is used one message per frame.
async function offersJsonBatches() {
  try {
    const status = await getJson('/api/v1/status');
    return status.features?.batch?.formats?.includes('json') ?? false;
  } catch {
    return false;
  }
}

// One text frame holds one message or, once batching, a "json" batch: a header line
// {"type":"batch","channel":...,"count":N,...} then N lines of one message each (section 14.4).
function messagesOf(text) {
  const lines = text.split('\n');
  const first = JSON.parse(lines[0]);
  if (first.type !== 'batch') return [first];
  batches += 1;
  return lines.slice(1).map((line) => JSON.parse(line));
}

async function connect() {
  connections += 1;
  const id = connections;
  // A fresh token for every connection: an expired one (close 4001) is never reused.
  const { token } = await getJson('/api/v1/auth/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ node_id: 'batch-client-js', public_key: '' }),
  });
  const askBatches = await offersJsonBatches();
  const url = new URL('/api/v1/ws', root);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('token', token);

  const ws = new WebSocket(url);
  let batchReplyDue = false;
  let newEvents = 0;

  ws.on('open', () => {
    if (askBatches) {
      // Before the first subscribe (section 14.2); the server answers `batching` or `error`.
      ws.send(JSON.stringify({ type: 'batch', format: 'json' }));
      batchReplyDue = true;
    } else {
      log(`connection ${id}: one message per frame (the server offers no batches)`);
    }
    for (const channel of channels) {
      // Resume each channel after its last seq (section 11.2); the first time, live.
      const since = lastSeq[channel];
      ws.send(JSON.stringify(since === undefined
        ? { type: 'subscribe', channel } : { type: 'subscribe', channel, since }));
    }
  });

  ws.on('message', (data, isBinary) => {
    if (isBinary || done) return; // binary frames come only to clients that ask for "arrow"
    frames += 1;
    for (const message of messagesOf(data.toString())) {
      if (done) return;
      if (message.type === 'batching') {
        batchReplyDue = false;
        log(`connection ${id}: json batches, at most ${message.max_events} events or ` +
            `${message.max_delay_ms} ms`);
      } else if (message.type === 'error') {
        log(`connection ${id}: error ${message.data.code}: ${message.data.message}`);
        if (batchReplyDue) log(`connection ${id}: one message per frame (batches refused)`);
        batchReplyDue = false;
      } else if (message.type === 'subscribed') {
        batchReplyDue = false;
        // A quiet channel resumes from its ack's seq, never an older one (section 11.3).
        if (lastSeq[message.channel] === undefined) lastSeq[message.channel] = message.seq;
      } else if (typeof message.seq === 'number' && message.type.endsWith('_event')) {
        const channel = `${message.type}s`; // security_event -> security_events
        // Drop what we already have, event by event: a resend may repeat some (section 11.4).
        if (lastSeq[channel] !== undefined && message.seq <= lastSeq[channel]) {
          duplicates += 1;
          continue;
        }
        lastSeq[channel] = message.seq;
        newEvents += 1;
        console.log(JSON.stringify(message));
        if (++printed === wanted) finish(ws);
      } // any other type: ignore it (section 11.8)
    }
  });

  ws.on('error', (error) => log(`connection ${id}: ${error.message}`));
  ws.on('close', (code) => {
    if (done) return;
    if (newEvents > 0) backoff = 0.1; // start the delays over only after a useful connection
    reconnectLater(`connection ${id}: closed (${code})`);
  });
}

// Exponential backoff with "equal jitter" (section 11.10), then a new connection that resumes.
function reconnectLater(why) {
  const delay = backoff / 2 + (Math.random() * backoff) / 2;
  backoff = Math.min(backoff * 2, 10);
  log(`${why}; reconnecting in ${delay.toFixed(2)} s after ${JSON.stringify(lastSeq)}`);
  setTimeout(start, delay * 1000);
}

function finish(ws) {
  done = true;
  log(`done: ${printed} events in ${frames} frames (${batches} batches) over ${connections} ` +
      `connections, ${duplicates} duplicates dropped`);
  ws.close(1000); // nothing else is pending: node exits once the close handshake is over
}

function start() {
  connect().catch((error) => reconnectLater(`connection ${connections}: ${error.message}`));
}

start();
