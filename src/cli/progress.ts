// Copy progress for the terminal: skopeo-style lines when not a TTY, per-blob bars when it is.

import type { BlobKind, BlobProgress, ProgressSink } from '../image/copy/index.ts';
import type { BlobInfo } from '../image/index.ts';

type Out = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

const quietBlob: BlobProgress = { advance() {}, done() {}, failed() {} };

/** The lines skopeo prints when its output is not a terminal. */
export function lineProgress(out: Out): ProgressSink {
  return {
    blobStarted(kind: BlobKind, info: BlobInfo): BlobProgress {
      out.write(`Copying ${kind} ${info.digest}\n`);
      return quietBlob;
    },
    blobSkipped(kind: BlobKind, info: BlobInfo): void {
      out.write(`Copying ${kind} ${info.digest} skipped: already exists\n`);
    },
    message(line: string): void {
      out.write(`${line}\n`);
    },
  };
}

function human(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)}${units[i]}`;
}

interface Bar {
  readonly label: string;
  readonly total: number;
  current: number;
  state: 'running' | 'done' | 'failed' | 'skipped';
}

/** Redraws one bar per blob in place (ANSI cursor movement), at most every 100 ms. */
export function ttyProgress(out: Out): ProgressSink {
  const bars: Bar[] = [];
  let drawn = 0;
  let last = 0;
  const draw = (force: boolean): void => {
    const now = Date.now();
    if (!force && now - last < 100) return;
    last = now;
    const width = Math.max(10, Math.min(40, (out.columns ?? 80) - 60));
    let text = drawn > 0 ? `\x1b[${drawn}A` : '';
    for (const b of bars) {
      const fraction = b.total > 0 ? Math.min(1, b.current / b.total) : b.state === 'running' ? 0 : 1;
      const filled = Math.round(fraction * width);
      const status =
        b.state === 'done'
          ? 'done'
          : b.state === 'skipped'
            ? 'skipped: already exists'
            : b.state === 'failed'
              ? 'failed'
              : '';
      text += `\x1b[2K${b.label} [${'='.repeat(filled)}${' '.repeat(width - filled)}] ${human(b.current)} / ${b.total >= 0 ? human(b.total) : '?'} ${status}\n`;
    }
    drawn = bars.length;
    out.write(text);
  };
  const label = (kind: BlobKind, info: BlobInfo): string => `Copying ${kind} ${info.digest.slice(7, 19)}`;
  return {
    blobStarted(kind, info) {
      const bar: Bar = { label: label(kind, info), total: info.size, current: 0, state: 'running' };
      bars.push(bar);
      draw(true);
      return {
        advance(bytes) {
          bar.current += bytes;
          draw(false);
        },
        done() {
          bar.state = 'done';
          draw(true);
        },
        failed() {
          bar.state = 'failed';
          draw(true);
        },
      };
    },
    blobSkipped(kind, info) {
      bars.push({ label: label(kind, info), total: info.size, current: info.size, state: 'skipped' });
      draw(true);
    },
    message(line) {
      // Finished bars stay on screen above the message; later bars start below it.
      out.write(`${line}\n`);
      drawn = 0;
      bars.length = 0;
    },
  };
}

/** undefined with --quiet: the engine then adds no counting stage to the blob pipeline. */
export function progressFor(out: Out, quiet: boolean): ProgressSink | undefined {
  if (quiet) return undefined;
  return out.isTTY ? ttyProgress(out) : lineProgress(out);
}
