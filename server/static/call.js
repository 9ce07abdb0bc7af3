// Browser side of protocol v1 (docs/protocol.md): microphone → binary PCM frames,
// agent audio → playback worklet, JSON events → transcript and operator panel.

const $ = (id) => document.getElementById(id);

const CLOSE_MEANING = {
  1000: 'normal end',
  1001: 'server going away',
  1003: 'a frame of the wrong kind was sent',
  1005: 'closed without a status code',
  1006: 'connection lost or refused (no close frame)',
  1008: 'refused: authentication, origin, or the caller is on the do-not-call list',
  1009: 'an audio frame was too large',
  1011: 'internal server error',
  1013: 'too many concurrent calls; try again later',
  4400: 'malformed message',
  4408: 'no start in time, or maximum call length reached',
};
const END_REASON = {
  caller: 'you hung up', agent: 'the agent ended the call', error: 'an error',
  max_duration: 'maximum call length reached', server_shutdown: 'the server is shutting down',
};
// Stage timestamps of a `turn` message, shown relative to the end of caller speech.
const STAGES = [
  ['turn_decided', 'turn decided'], ['asr_final', 'ASR final'],
  ['llm_first_token', 'LLM first token'], ['first_clause_ready', 'first clause ready'],
  ['tts_first_audio', 'TTS first audio'], ['first_audio_out', 'first audio out'],
];
const PING_MS = 15000;
const END_GRACE_MS = 3000; // after our `end`, wait this long for the server to close

let call = null; // the current call's resources and view state; null when none

function node(tag, cls, text) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  if (text != null) el.textContent = text;
  return el;
}

const ms = (s) => (s == null ? '—' : `${Math.round(s * 1000)} ms`);

function setState(state, status) {
  document.body.dataset.state = state;
  if (status) $('status').textContent = status;
  const busy = state === 'connecting' || state === 'live';
  $('start').disabled = busy;
  $('end').disabled = !busy;
  for (const f of document.querySelectorAll('#caller-form fieldset')) f.disabled = busy;
}

function showError(text) {
  const box = $('error');
  box.append(node('p', null, `Error: ${text}`));
  while (box.children.length > 5) box.firstElementChild.remove();
  box.hidden = false;
}

function micError(e) {
  if (e.name === 'NotAllowedError' || e.name === 'SecurityError') {
    return 'microphone permission denied. Allow microphone access for this page and press Start again.';
  }
  if (e.name === 'NotFoundError') return 'no microphone found.';
  if (e.name === 'NotReadableError') return 'the microphone is in use or could not be opened.';
  return `microphone: ${e.name}: ${e.message}`;
}

function startMessage(sampleRate) {
  const val = (id) => $(id).value.trim();
  const caller = {};
  for (const k of ['caller_id', 'name', 'occupation']) if (val(k)) caller[k] = val(k);
  const msg = { type: 'start', version: 1, sample_rate: sampleRate, caller };
  if (val('token')) msg.token = val('token');
  if (val('variant')) msg.variant = val('variant');
  return msg;
}

const send = (c, msg) => c.ws?.readyState === WebSocket.OPEN && c.ws.send(JSON.stringify(msg));

async function startCall() {
  $('error').replaceChildren();
  $('error').hidden = true;
  $('transcript').replaceChildren();
  $('turns').replaceChildren();
  $('latency').textContent = 'Voice-to-voice: —';
  $('call-info').textContent = 'No call yet.';
  const c = (call = { live: false, ended: false, turns: new Map(), agent: new Map(), v2v: [] });
  setState('connecting', 'Asking for the microphone…');
  try {
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new Error('the microphone needs a secure page (https or localhost).');
    }
    c.ctx = new AudioContext({ latencyHint: 'interactive' }); // inside the click: allowed to start
    c.stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
    });
  } catch (e) {
    const why = e instanceof DOMException ? micError(e) : e.message;
    return finish(c, 'Could not start: the microphone is unavailable.', why);
  }
  if (c.ended) return finish(c, 'Call cancelled.');
  try {
    await setUpAudio(c);
  } catch (e) {
    return finish(c, 'Could not start audio.', `audio setup failed: ${e.message}`);
  }
  if (c.ended) return finish(c, 'Call cancelled.');
  openSocket(c);
}

async function setUpAudio(c) {
  const ctx = c.ctx;
  // The protocol takes 8000–48000 Hz; only a faster context is decimated (in the worklet).
  const factor = Math.max(1, Math.ceil(ctx.sampleRate / 48000));
  c.rate = Math.round(ctx.sampleRate / factor);
  await ctx.audioWorklet.addModule(new URL('capture-worklet.js', import.meta.url));
  await ctx.audioWorklet.addModule(new URL('playback-worklet.js', import.meta.url));
  c.capture = new AudioWorkletNode(ctx, 'capture-processor', {
    numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1], processorOptions: { factor },
  });
  c.capture.port.onmessage = ({ data }) => c.live && c.ws?.readyState === WebSocket.OPEN && c.ws.send(data);
  // The capture node outputs silence; connecting it to the destination keeps it pulled.
  ctx.createMediaStreamSource(c.stream).connect(c.capture).connect(ctx.destination);
  c.playback = new AudioWorkletNode(ctx, 'playback-processor', {
    numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1], processorOptions: { inputRate: 16000 },
  });
  c.playback.connect(ctx.destination);
  // Playback reached a mark: tell the server what the caller has heard.
  c.playback.port.onmessage = ({ data }) => {
    if (data.type === 'played' && c.live) send(c, { type: 'played', ...data.mark });
  };
  if (ctx.state === 'suspended') await ctx.resume();
}

function openSocket(c) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = (c.ws = new WebSocket(`${scheme}//${location.host}/ws/call`));
  ws.binaryType = 'arraybuffer';
  setState('connecting', 'Connecting to the agent…');
  ws.onopen = () => {
    send(c, startMessage(c.rate)); // the token travels here, never in the URL
    let id = 0;
    c.pingTimer = setInterval(() => send(c, { type: 'ping', id: ++id }), PING_MS);
  };
  ws.onmessage = ({ data }) => {
    if (typeof data !== 'string') return c.playback.port.postMessage({ type: 'pcm', pcm: data }, [data]);
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return showError('the server sent text that is not JSON.');
    }
    onMessage(c, msg);
  };
  // An `error` event carries no detail; the `close` event that follows has the code.
  ws.onclose = (ev) => onClose(c, ev);
}

function onMessage(c, msg) {
  switch (msg.type) {
    case 'ready':
      c.live = true;
      c.playback.port.postMessage({ type: 'rate', rate: msg.sample_rate ?? 16000 });
      $('call-info').textContent = `Call ${msg.call_id} · variant ${msg.variant ?? 'default'}`
        + ` · program ${msg.program_version ?? '—'}`;
      return setState('live', 'Live: speak whenever you like.');
    case 'transcript':
      return onTranscript(c, msg);
    case 'agent_text': {
      const text = agentBubble(c, msg.turn).querySelector('.text');
      text.textContent += (text.textContent ? ' ' : '') + msg.text;
      return scrollDown();
    }
    case 'agent_info':
      Object.assign(turnEntry(c, msg.turn).info, msg.data);
      return renderTurn(c, msg.turn);
    case 'mark':
      return c.playback.port.postMessage({ type: 'mark', mark: { turn: msg.turn, position: msg.position } });
    case 'clear':
      return c.playback.port.postMessage({ type: 'flush' }); // the caller spoke over the agent
    case 'interrupt': {
      c.playback.port.postMessage({ type: 'flush' }); // barge-in: drop queued agent audio now
      const b = agentBubble(c, msg.turn);
      if (!b.classList.contains('interrupted')) b.append(node('small', 'note', ' (interrupted)'));
      return b.classList.add('interrupted');
    }
    case 'turn':
      turnEntry(c, msg.turn).turn = msg;
      renderTurn(c, msg.turn);
      if (msg.timings?.voice_to_voice_s != null) c.v2v.push(msg.timings.voice_to_voice_s);
      return renderLatency(c);
    case 'error':
      return showError(`${msg.message ?? 'unknown problem'} (${msg.code ?? 'no code'})`);
    case 'end':
      c.endMsg = msg;
      c.live = false;
      $('status').textContent = 'The call is ending…';
      return;
    case 'pong':
      return;
    default:
      console.warn('unknown message type', msg.type);
  }
}

function bubble(cls) {
  const el = node('p', cls);
  $('transcript').append(el);
  scrollDown();
  return el;
}

function scrollDown() {
  const t = $('transcript');
  t.scrollTop = t.scrollHeight;
}

function onTranscript(c, { text, final }) {
  if (final) {
    c.partial?.remove();
    c.partial = null;
    if (text) bubble('user final').textContent = text;
    return;
  }
  if (!c.partial) {
    c.partial = bubble('user partial');
    c.partial.setAttribute('aria-hidden', 'true'); // the final replaces it; don't announce guesses
  }
  c.partial.textContent = text;
}

function agentBubble(c, turn) {
  if (!c.agent.has(turn)) {
    const b = bubble('agent');
    b.dataset.turn = turn;
    b.append(node('span', 'text'));
    c.agent.set(turn, b);
  }
  return c.agent.get(turn);
}

function turnEntry(c, n) {
  if (!c.turns.has(n)) {
    const el = node('article', 'turn');
    el.dataset.turn = n;
    el.append(node('h3', null, n === 0 ? 'Turn 0 (greeting)' : `Turn ${n}`), node('dl'));
    $('turns').prepend(el); // newest first
    c.turns.set(n, { el, info: {}, turn: null });
  }
  return c.turns.get(n);
}

// Stage timings in ms after the end of caller speech (the greeting: after its first stage).
function stageList(t) {
  const stamps = STAGES.filter(([k]) => t[k] != null);
  const base = t.speech_end ?? Math.min(...stamps.map(([k]) => t[k]));
  const items = stamps.map(([k, label]) => {
    const d = t[k] - base;
    return `${d < 0 ? '−' : '+'}${ms(Math.abs(d))} ${label}`;
  });
  if (t.speech_start != null && t.speech_end != null) {
    items.unshift(`caller spoke ${ms(t.speech_end - t.speech_start)}`);
  }
  if (t.end_reason) items.push(`turn end: ${t.end_reason}`);
  const ul = node('ul', 'stages');
  ul.append(...items.map((text) => node('li', null, text)));
  return ul;
}

function renderTurn(c, n) {
  const { el, info, turn } = c.turns.get(n);
  const rows = [];
  const th = info.thought;
  if (th) {
    rows.push(['Template', th.template], ['Intent', th.intent ?? 'none'], ['Caller state', th.user_state]);
    if (th.note) rows.push(['Note', th.note]);
  }
  if ('strategy' in info) rows.push(['Strategy', info.strategy ?? 'no new line this turn']);
  const s = info.sector;
  if (s) {
    const conf = `${Math.round((s.confidence ?? 0) * 100)}% confidence`;
    rows.push(['Sector', s.sector ? `${s.sector} (${conf}, ${s.source})` : 'unknown']);
  }
  if ('outcome' in info) {
    rows.push(['Outcome', (info.outcome ?? 'none yet') + (info.end_call ? ', ending the call' : '')]);
  }
  if (turn) {
    const t = turn.timings ?? {};
    const since = t.speech_end != null ? 'since end of speech' : 'since first stage';
    rows.push(['Voice-to-voice', ms(t.voice_to_voice_s)], [`Stages, ${since}`, stageList(t)]);
    if (turn.interrupted) rows.push(['Interrupted', 'yes']);
  }
  const dl = el.querySelector('dl');
  dl.replaceChildren();
  for (const [name, value] of rows) {
    const wide = value instanceof Node; // a list gets the panel's full width
    const dd = node('dd', wide ? 'wide' : null, wide ? null : String(value));
    if (wide) dd.append(value);
    dl.append(node('dt', wide ? 'wide' : null, name), dd);
  }
}

function renderLatency(c) {
  const v = [...c.v2v].sort((a, b) => a - b);
  if (v.length === 0) return;
  const median = (v[Math.floor((v.length - 1) / 2)] + v[Math.floor(v.length / 2)]) / 2;
  $('latency').textContent = `Voice-to-voice: last ${ms(c.v2v.at(-1))} · median ${ms(median)}`
    + ` over ${v.length} turn${v.length > 1 ? 's' : ''}`;
}

function onClose(c, ev) {
  if (call !== c) return; // we closed it ourselves while cancelling
  const meaning = CLOSE_MEANING[ev.code] ?? 'unknown close code';
  if (ev.code !== 1000) {
    showError(`connection closed with code ${ev.code}: ${meaning}${ev.reason ? ` (${ev.reason})` : ''}.`);
  }
  const why = c.endMsg && (END_REASON[c.endMsg.reason] ?? c.endMsg.reason);
  finish(c, c.endMsg
    ? `Call ended: ${why}. Outcome: ${c.endMsg.outcome ?? 'none'}.`
    : `Call ended (${ev.code}: ${meaning}).`);
}

// Release everything the call holds; safe on a half-built call.
function finish(c, status, error) {
  c.live = false;
  c.ended = true;
  c.partial?.remove(); // a guess that never became final
  clearInterval(c.pingTimer);
  clearTimeout(c.endTimer);
  c.stream?.getTracks().forEach((t) => t.stop());
  c.ctx?.close().catch(() => {});
  if (c.ws && c.ws.readyState <= WebSocket.OPEN) c.ws.close(1000);
  if (call === c) { // else: already finished (a cancel racing the setup)
    if (error) showError(error);
    call = null;
    setState('ended', status);
  }
}

function endCall() {
  const c = call;
  if (!c || c.ended) return;
  c.ended = true;
  c.live = false; // stop sending microphone audio
  clearInterval(c.pingTimer); // nothing may follow `end` on the wire
  c.playback?.port.postMessage({ type: 'flush' });
  if (c.ws?.readyState === WebSocket.OPEN) {
    if (!c.endMsg) send(c, { type: 'end' }); // after the server's `end`, only wait for the close
    $('status').textContent = 'Hanging up…';
    c.endTimer = setTimeout(() => c.ws.close(1000), END_GRACE_MS);
  } else {
    finish(c, 'Call cancelled.'); // startCall sees `ended` and releases what arrives later
  }
}

$('caller-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  if (!call) startCall();
});
$('end').addEventListener('click', endCall);
window.addEventListener('pagehide', endCall);
