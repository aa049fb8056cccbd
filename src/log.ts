import { type Logger, pino } from 'pino';

/** JSON lines on stdout. Secrets never reach a log call; the redaction list is a second line of defence. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'cloudtaser-s3-proxy' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: {
      paths: ['token', 'vaultToken', 'dek', 'headers.authorization', 'headers["x-vault-token"]'],
      censor: '[redacted]',
    },
  });
}
