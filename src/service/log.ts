/**
 * The service's log lines. Every value in them may come from someone we do not control (a host's callback
 * message, a BMC's error text or hardware strings, a request path), so control characters are removed
 * before a value reaches a log or a terminal: a newline cannot forge a line, an escape sequence cannot
 * rewrite the operator's screen.
 */
import { terminalSafe } from '../common/diagnostics.ts';

export type LogFormat = 'text' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

export interface LogRecord {
  level: 'info' | 'warn' | 'error';
  message: string;
  host?: string;
  reason?: string;
}

/** One log line (without the newline) in the chosen format. */
export function formatLogLine(format: LogFormat, record: LogRecord, time = new Date()): string {
  const host = record.host !== undefined ? terminalSafe(record.host) : undefined;
  const reason = record.reason !== undefined ? terminalSafe(record.reason) : undefined;
  const message = terminalSafe(record.message);
  if (format === 'json') {
    return JSON.stringify({
      time: time.toISOString(),
      level: record.level,
      ...(host !== undefined && { host }),
      ...(reason !== undefined && { reason }),
      message,
    });
  }
  const level = record.level === 'info' ? 'info' : record.level === 'warn' ? 'WARN' : 'ERROR';
  const subject = [host, reason !== undefined ? `${reason}:` : undefined].filter((v) => v !== undefined);
  return [time.toISOString(), level, ...subject, message].join(' ');
}
