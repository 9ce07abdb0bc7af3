// Agent audio: 16-bit LE PCM chunks in, resampled to the context rate by linear
// interpolation as they arrive, queued, and played. {type: 'flush'} empties the queue
// at once (the caller spoke over the agent). {type: 'mark', mark} is queued between
// chunks and posted back as {type: 'played', mark} when playback reaches it.

class PlaybackProcessor extends AudioWorkletProcessor {
  constructor({ processorOptions }) {
    super();
    this.inRate = processorOptions?.inputRate ?? 16000;
    this.flush();
    this.port.onmessage = ({ data }) => {
      if (data.type === 'pcm') this.queue.push(this.resample(data.pcm));
      else if (data.type === 'rate') this.inRate = data.rate;
      else if (data.type === 'flush') this.flush();
      else if (data.type === 'mark') this.queue.push({ mark: data.mark });
    };
  }

  flush() {
    this.queue = []; // Float32Arrays at the context rate, and {mark} entries
    this.head = 0; // read position in queue[0]
    this.prev = 0; // last input sample of the previous chunk (index -1)
    this.pos = 0; // next output position, in input samples, relative to the next chunk
  }

  resample(buffer) {
    const view = new DataView(buffer);
    const n = buffer.byteLength >> 1;
    const step = this.inRate / sampleRate;
    const at = (i) => (i < 0 ? this.prev : view.getInt16(i * 2, true) / 32768);
    const out = new Float32Array(Math.ceil((n + 1) / step) + 1);
    let k = 0;
    let p = this.pos;
    // Positions in [n-1, n) need the next chunk's first sample, so they wait for it.
    for (; p < n - 1; p += step) {
      const i = Math.floor(p);
      out[k++] = at(i) + (at(i + 1) - at(i)) * (p - i);
    }
    if (n > 0) [this.prev, this.pos] = [at(n - 1), p - n];
    return out.subarray(0, k);
  }

  process(_inputs, outputs) {
    const [first, ...rest] = outputs[0];
    for (let k = 0; first && this.queue.length > 0;) {
      const chunk = this.queue[0];
      if (chunk.mark !== undefined) {
        this.port.postMessage({ type: 'played', mark: chunk.mark });
        this.queue.shift();
        continue;
      }
      if (k >= first.length) break;
      const take = Math.min(first.length - k, chunk.length - this.head);
      first.set(chunk.subarray(this.head, this.head + take), k);
      k += take;
      this.head += take;
      if (this.head === chunk.length) {
        this.queue.shift();
        this.head = 0;
      }
    }
    for (const ch of rest) ch.set(first);
    return true;
  }
}

registerProcessor('playback-processor', PlaybackProcessor);
