// Microphone → mono 16-bit little-endian PCM, posted to the page in 20 ms frames.
// Runs at the AudioContext rate (the server resamples). Only a context above 48 kHz,
// outside the protocol's 8000–48000, is decimated here by the integer `factor`.

class CaptureProcessor extends AudioWorkletProcessor {
  constructor({ processorOptions }) {
    super();
    this.factor = processorOptions?.factor ?? 1;
    this.size = Math.round(sampleRate / this.factor / 50); // samples per 20 ms frame
    this.frame = new DataView(new ArrayBuffer(this.size * 2));
    this.filled = 0;
    this.sum = 0; // decimator: running sum of `count` mono samples
    this.count = 0;
  }

  process(inputs) {
    const channels = inputs[0]; // empty until the microphone is connected
    const n = channels[0]?.length ?? 0;
    for (let i = 0; i < n; i++) {
      for (const ch of channels) this.sum += ch[i] / channels.length;
      if (++this.count < this.factor) continue; // box-filter decimation (factor 1: none)
      const v = Math.max(-1, Math.min(1, this.sum / this.factor));
      this.sum = this.count = 0;
      this.frame.setInt16(this.filled++ * 2, v < 0 ? v * 0x8000 : v * 0x7fff, true);
      if (this.filled === this.size) {
        this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
        this.frame = new DataView(new ArrayBuffer(this.size * 2));
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor('capture-processor', CaptureProcessor);
