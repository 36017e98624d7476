// Flow events from the datapath's ring buffer, decoded, delivered on the JS thread without blocking it
// (the addon polls the ring buffer's epoll fd from libuv).
import { decodeFlowEvent, type FlowEvent } from './layout.js';
import { nativeBpf, type RingbufHandle } from './native.js';

export class FlowReader {
  private handle: RingbufHandle | undefined;

  constructor(mapFd: number, onFlows: (events: FlowEvent[]) => void) {
    this.handle = nativeBpf().ringbufOpen(mapFd, (samples) => onFlows(samples.map(decodeFlowEvent)));
  }

  /** Delivers what is pending, then stops (the reader no longer keeps the process alive). */
  close(): void {
    if (!this.handle) return;
    nativeBpf().ringbufClose(this.handle);
    this.handle = undefined;
  }
}
