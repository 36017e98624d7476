// The receiving end of Envoy's gRPC access log service (envoy.service.accesslog.v3.StreamAccessLogs):
// the node proxy streams every request of its L7 listeners here. Only HTTP entries under Weft's log name
// are taken; Envoy sends the identifier (node, log name) on a stream's first message only.
import * as grpc from '@grpc/grpc-js';
import { ACCESS_LOG_NAME } from '../xds/translator/access-log-service.js';
import type { HttpAccessLogEntry } from './access-log-flows.js';
import { accessLogService } from './proto.js';

interface StreamAccessLogsMessage {
  identifier?: { log_name?: string } | null;
  http_logs?: { log_entry?: HttpAccessLogEntry[] } | null;
}

export interface AccessLogReceiverEvents {
  /** Entries of one message, in order. */
  onEntries(entries: HttpAccessLogEntry[]): void;
  /** A stream that declared another log name (ignored). */
  onForeignStream?(logName: string): void;
}

export function accessLogImplementation(events: AccessLogReceiverEvents): grpc.UntypedServiceImplementation {
  return {
    StreamAccessLogs: (call: grpc.ServerReadableStream<StreamAccessLogsMessage, object>, callback: grpc.sendUnaryData<object>) => {
      let ours: boolean | undefined;
      call.on('data', (msg: StreamAccessLogsMessage) => {
        if (ours === undefined) {
          const name = msg.identifier?.log_name ?? '';
          ours = name === ACCESS_LOG_NAME;
          if (!ours) events.onForeignStream?.(name);
        }
        const entries = msg.http_logs?.log_entry;
        if (ours && entries && entries.length > 0) events.onEntries(entries);
      });
      call.on('end', () => callback(null, {}));
      call.on('error', () => undefined);
    },
  };
}

export function addAccessLogService(server: grpc.Server, events: AccessLogReceiverEvents): void {
  server.addService(accessLogService().service, accessLogImplementation(events));
}
